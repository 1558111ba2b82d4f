/**
 * The reference for release lateness: a delayed-job scheduler of the polling kind (a due set
 * ordered by instant, scanned every `intervalMs` by a timer, everything due moved out), run in
 * this process on the same schedule as the delay service, with no broker and no store in the
 * way. Its lateness is what the polling design alone costs.
 */
export class PollingScheduler {
  readonly #intervalMs: number;
  readonly #clock: () => number;
  /** Binary min-heap of due instants. */
  readonly #heap: number[] = [];
  readonly lateness: number[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(intervalMs: number, clock: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#pollDue(), this.#intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  schedule(sendAt: number): void {
    const heap = this.#heap;
    heap.push(sendAt);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (heap[parent]! <= heap[at]!) break;
      [heap[parent], heap[at]] = [heap[at]!, heap[parent]!];
      at = parent;
    }
  }

  get pending(): number {
    return this.#heap.length;
  }

  #pollDue(): void {
    const now = this.#clock();
    while (this.#heap.length > 0 && this.#heap[0]! <= now) this.lateness.push(now - this.#popEarliest());
  }

  #popEarliest(): number {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        const right = left + 1;
        let smallest = at;
        if (left < heap.length && heap[left]! < heap[smallest]!) smallest = left;
        if (right < heap.length && heap[right]! < heap[smallest]!) smallest = right;
        if (smallest === at) break;
        [heap[smallest], heap[at]] = [heap[at]!, heap[smallest]!];
        at = smallest;
      }
    }
    return top;
  }
}
