/**
 * A send-rate limit: `ratePerSecond` tokens per second up to `burst`. It never drops: `reserve`
 * says when the next send may go. A rate of 0 means unlimited.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #updatedAt: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    this.#rate = ratePerSecond;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#updatedAt = nowMs;
  }

  #refill(nowMs: number): void {
    if (nowMs > this.#updatedAt) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#updatedAt) / 1000) * this.#rate);
      this.#updatedAt = nowMs;
    }
  }

  /** Takes a token when one is there (returns 0), else returns the wait in ms until one is. */
  take(nowMs: number): number {
    if (this.#rate <= 0) return 0;
    this.#refill(nowMs);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
  }
}
