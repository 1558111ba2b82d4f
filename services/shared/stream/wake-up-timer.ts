/** Node clamps timeouts above 2^31-1 ms to 1 ms; we also wake at least once a minute to re-read the clock. */
export const MAX_TIMER_MS = 60_000;

export interface TimerApi {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const NODE_TIMERS: TimerApi = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * One timer per partition, armed for its next wake-up. It sleeps (no polling), never longer
 * than MAX_TIMER_MS, so a wake-up weeks away never overflows a Node timer and a wall-clock jump is
 * noticed within a minute; the punctuation itself re-reads the clock, so nothing runs early.
 */
export class WakeUpTimer {
  readonly #timers: TimerApi;
  readonly #clock: () => number;
  readonly #fire: (partition: number) => void;
  readonly #armed = new Map<number, { handle: unknown; at: number }>();
  /** Clock milliseconds per real millisecond: 1, except for the demo's accelerated clock. */
  readonly #clockRate: number;

  constructor(options: { clock: () => number; clockRate?: number; timers?: TimerApi; fire: (partition: number) => void }) {
    this.#clock = options.clock;
    this.#clockRate = options.clockRate ?? 1;
    this.#timers = options.timers ?? NODE_TIMERS;
    this.#fire = options.fire;
  }

  /** Arms the partition's timer for `dueMs` unless an earlier wake-up is already armed. */
  arm(partition: number, dueMs: number | null): void {
    if (dueMs === null) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, dueMs - this.#clock()));
    const at = this.#clock() + delay;
    const current = this.#armed.get(partition);
    if (current && current.at <= at) return;
    if (current) this.#timers.clearTimeout(current.handle);
    const handle = this.#timers.setTimeout(() => {
      this.#armed.delete(partition);
      this.#fire(partition);
    }, delay / this.#clockRate);
    this.#armed.set(partition, { handle, at });
  }

  disarm(partition: number): void {
    const current = this.#armed.get(partition);
    if (current) this.#timers.clearTimeout(current.handle);
    this.#armed.delete(partition);
  }

  disarmAll(): void {
    for (const partition of [...this.#armed.keys()]) this.disarm(partition);
  }

  /** Delay of the armed timer (for tests). */
  armedDelay(partition: number): number | null {
    const current = this.#armed.get(partition);
    return current ? current.at - this.#clock() : null;
  }
}
