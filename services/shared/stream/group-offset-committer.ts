/** One topic partition's next offset to consume, as kafkajs' commitOffsets takes it. */
export interface GroupOffset {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Writes the consumer group's committed offsets in the background, one request at a time, the
 * latest offset of each partition winning. They are advisory (the stores' offsets are the truth;
 * the group's are for lag tools and dashboards), so the loop does not wait for them: awaited after
 * every batch, the commit's round trip to the coordinator lengthened every fetch cycle, and with
 * it the time from a trigger to its decision.
 */
export class GroupOffsetCommitter {
  readonly #commit: (offsets: GroupOffset[]) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  readonly #pending = new Map<string, GroupOffset>();
  #inFlight: Promise<void> | null = null;

  constructor(commit: (offsets: GroupOffset[]) => Promise<void>, onError: (error: unknown) => void) {
    this.#commit = commit;
    this.#onError = onError;
  }

  /** Notes a partition's next offset; it is written with the next request (at once when none is in flight). */
  record(offset: GroupOffset): void {
    this.#pending.set(`${offset.topic}\u0000${offset.partition}`, offset);
    this.#inFlight ??= this.#drain();
  }

  /** Resolves once nothing is in flight or pending (the last request settled). */
  async idle(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
  }

  async #drain(): Promise<void> {
    // A microtask first: offsets recorded in the same turn go in the same request.
    await Promise.resolve();
    while (this.#pending.size > 0) {
      const offsets = [...this.#pending.values()];
      this.#pending.clear();
      await this.#commit(offsets).catch(this.#onError);
    }
    this.#inFlight = null;
  }
}
