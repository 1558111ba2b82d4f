/** End offsets of the engagement topic's partitions, as the broker reported them. */
export type FetchEndOffsets = () => Promise<ReadonlyMap<number, number>>;

/** What a release pass of one partition may do about the engagement records before it. */
export type WatermarkCheck = { kind: 'caught-up'; releaseUpTo: number } | { kind: 'behind'; consumed: number; end: number; releaseUpTo: number };

/**
 * The stop guarantee's watermark. A send due at T may be released only once every engagement
 * record of its partition appended before T has been applied to the partition's state (a stop,
 * an unsubscribe that arrived 1 ms before T must hold it). End offsets fetched by a request sent
 * at or after T cover every record appended before T; the partition's consumed position (the
 * store's committed offset of the engagement topic) at or past that end means all of them are
 * applied. One fetch serves every partition and every send due up to the moment it was sent, so
 * a busy release costs one metadata round trip per pass, not per send.
 */
export class EngagementWatermark {
  readonly #fetchEnds: FetchEndOffsets;
  readonly #clock: () => number;
  #snapshot: { fetchedAt: number; ends: ReadonlyMap<number, number> } | null = null;
  #inFlight: { startedAt: number; result: Promise<{ fetchedAt: number; ends: ReadonlyMap<number, number> }> } | null = null;

  constructor(options: { fetchEnds: FetchEndOffsets; clock: () => number }) {
    this.#fetchEnds = options.fetchEnds;
    this.#clock = options.clock;
  }

  /**
   * Compares the partition's consumed position with an end offset fetched at or after
   * `notBefore` (fetching one when the last is older): the later of the earliest due instant and
   * the moment the partition last stored a send (a send stored already due must wait for the
   * engagement records appended with it). `releaseUpTo` bounds the sends this check covers:
   * those due at or before the fetch.
   */
  async check(partition: number, consumed: number, notBefore: number): Promise<WatermarkCheck> {
    const snapshot = await this.#snapshotFrom(notBefore);
    const end = snapshot.ends.get(partition) ?? 0;
    if (consumed >= end) return { kind: 'caught-up', releaseUpTo: snapshot.fetchedAt };
    return { kind: 'behind', consumed, end, releaseUpTo: snapshot.fetchedAt };
  }

  async #snapshotFrom(instant: number): Promise<{ fetchedAt: number; ends: ReadonlyMap<number, number> }> {
    if (this.#snapshot && this.#snapshot.fetchedAt >= instant) return this.#snapshot;
    if (this.#inFlight && this.#inFlight.startedAt >= instant) return this.#inFlight.result;
    const startedAt = this.#clock();
    const result = this.#fetchEnds().then((ends) => {
      if (!this.#snapshot || this.#snapshot.fetchedAt < startedAt) this.#snapshot = { fetchedAt: startedAt, ends };
      return { fetchedAt: startedAt, ends };
    });
    const flight = { startedAt, result };
    this.#inFlight = flight;
    try {
      return await result;
    } finally {
      if (this.#inFlight === flight) this.#inFlight = null;
    }
  }
}

/**
 * The end offset a partition must be consumed to: the broker's high watermark, or 0 when the
 * partition holds no record (every record deleted by retention: nothing is left to apply, and
 * the consumer's position cannot reach a high watermark it never reads up to).
 */
export function requiredEnd(high: number, low: number): number {
  return high > low ? high : 0;
}
