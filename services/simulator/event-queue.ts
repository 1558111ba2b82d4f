import type { EngagementEvent } from '../shared/contracts/record-types.ts';

/** Engagement events waiting to happen, released in time order (a binary min-heap; ties keep insertion order). */
export class EventQueue {
  readonly #heap: { event: EngagementEvent; seq: number }[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(event: EngagementEvent): void {
    const heap = this.#heap;
    heap.push({ event, seq: this.#seq++ });
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#before(heap[at]!, heap[parent]!)) break;
      [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
      at = parent;
    }
  }

  /** Removes and returns the earliest event if it happened at or before `atMs`. */
  popUntil(atMs: number): EngagementEvent | null {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined || top.event.occurredAt > atMs) return null;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        const right = left + 1;
        let smallest = at;
        if (left < heap.length && this.#before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && this.#before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === at) break;
        [heap[at], heap[smallest]] = [heap[smallest]!, heap[at]!];
        at = smallest;
      }
    }
    return top.event;
  }

  #before(a: { event: EngagementEvent; seq: number }, b: { event: EngagementEvent; seq: number }): boolean {
    return a.event.occurredAt < b.event.occurredAt || (a.event.occurredAt === b.event.occurredAt && a.seq < b.seq);
  }
}
