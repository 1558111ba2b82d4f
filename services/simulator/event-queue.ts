import type { EngagementEvent } from '../shared/contracts/record-types.ts';
import { MinHeap } from '../shared/min-heap.ts';

interface Entry {
  event: EngagementEvent;
  seq: number;
}

/** Engagement events waiting to happen, released in time order (ties keep insertion order). */
export class EventQueue {
  readonly #heap = new MinHeap<Entry>((a, b) => a.event.occurredAt < b.event.occurredAt || (a.event.occurredAt === b.event.occurredAt && a.seq < b.seq));
  #seq = 0;

  get size(): number {
    return this.#heap.size;
  }

  push(event: EngagementEvent): void {
    this.#heap.push({ event, seq: this.#seq++ });
  }

  /** Removes and returns the earliest event if it happened at or before `atMs`. */
  popUntil(atMs: number): EngagementEvent | null {
    const top = this.#heap.peek();
    if (top === undefined || top.event.occurredAt > atMs) return null;
    this.#heap.pop();
    return top.event;
  }
}
