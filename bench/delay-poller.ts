import { MinHeap } from '../services/shared/min-heap.ts';

/**
 * The reference for release lateness: a delayed-job scheduler of the polling kind (a due set
 * ordered by instant, scanned every `intervalMs` by a timer, everything due moved out), run in
 * this process on the same schedule as the delay service, with no broker and no store in the
 * way. Its lateness is what the polling design alone costs.
 */
export class PollingScheduler {
  readonly #intervalMs: number;
  readonly #clock: () => number;
  readonly #heap = new MinHeap<number>((a, b) => a < b);
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
    this.#heap.push(sendAt);
  }

  get pending(): number {
    return this.#heap.size;
  }

  #pollDue(): void {
    const now = this.#clock();
    while (this.#heap.size > 0 && this.#heap.peek()! <= now) this.lateness.push(now - this.#heap.pop()!);
  }
}
