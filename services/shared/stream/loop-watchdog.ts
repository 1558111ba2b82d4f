/**
 * Whether the consumer loop makes progress. Progress is a fetch (records or none) while no batch
 * is failing, or a batch applied and committed. A loop that has made none for `stallMs` (the
 * broker unreachable beyond kafkajs' retries, a batch failing again and again on a store that
 * cannot write) is reported with the reason, so /livez can fail and a supervisor restart the
 * process. A punctuation that keeps failing counts the same way.
 */
export class LoopWatchdog {
  readonly #stallMs: number;
  readonly #clock: () => number;
  #lastProgressAt: number;
  #failing: { since: number; error: string } | null = null;
  #punctuationFailing: { since: number; error: string } | null = null;

  constructor(stallMs: number, clock: () => number = Date.now) {
    this.#stallMs = stallMs;
    this.#clock = clock;
    this.#lastProgressAt = clock();
  }

  /** A fetch came back (with or without records). */
  fetched(): void {
    if (this.#failing === null) this.#lastProgressAt = this.#clock();
  }

  batchSucceeded(): void {
    this.#failing = null;
    this.#lastProgressAt = this.#clock();
  }

  batchFailed(error: string): void {
    this.#failing ??= { since: this.#clock(), error };
    this.#failing.error = error;
  }

  punctuationSucceeded(): void {
    this.#punctuationFailing = null;
  }

  punctuationFailed(error: string): void {
    this.#punctuationFailing ??= { since: this.#clock(), error };
    this.#punctuationFailing.error = error;
  }

  /** Starts the stall clock again (e.g. when consumption starts). */
  reset(): void {
    this.#lastProgressAt = this.#clock();
    this.#failing = null;
    this.#punctuationFailing = null;
  }

  /** Why the loop counts as stalled, or null. */
  stalled(): string | null {
    const now = this.#clock();
    if (now - this.#lastProgressAt >= this.#stallMs) {
      const seconds = Math.round((now - this.#lastProgressAt) / 1000);
      return this.#failing
        ? `consumer loop made no progress for ${seconds} s: a batch keeps failing (${this.#failing.error})`
        : `consumer loop made no progress for ${seconds} s: no fetch completed (broker unreachable?)`;
    }
    if (this.#punctuationFailing && now - this.#punctuationFailing.since >= this.#stallMs) {
      return `punctuation has failed for ${Math.round((now - this.#punctuationFailing.since) / 1000)} s (${this.#punctuationFailing.error})`;
    }
    return null;
  }
}
