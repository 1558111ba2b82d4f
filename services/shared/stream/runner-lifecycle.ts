/**
 * The runner's lifecycle as one value: created → joining → running → stopping → stopped, or
 * failed (from joining or running) with a reason that /livez and the logs report.
 */
export type RunnerPhase = 'created' | 'joining' | 'running' | 'stopping' | 'stopped' | 'failed';

const NEXT: Readonly<Record<RunnerPhase, readonly RunnerPhase[]>> = {
  created: ['joining', 'stopping'],
  joining: ['running', 'stopping', 'failed'],
  running: ['stopping', 'failed'],
  stopping: ['stopped'],
  stopped: [],
  failed: ['stopping'],
};

export class RunnerLifecycle {
  #phase: RunnerPhase = 'created';
  #reason: string | null = null;

  get phase(): RunnerPhase {
    return this.#phase;
  }

  /** Why the runner failed (null unless failed, or stopped after failing). */
  get reason(): string | null {
    return this.#reason;
  }

  /** Moves to `next` if allowed from the current phase; returns whether it moved. */
  to(next: RunnerPhase, reason?: string): boolean {
    if (!NEXT[this.#phase].includes(next)) return false;
    this.#phase = next;
    if (next === 'failed') this.#reason = reason ?? 'failed';
    return true;
  }

  /** Neither stopping, stopped nor failed. */
  get active(): boolean {
    return this.#phase === 'created' || this.#phase === 'joining' || this.#phase === 'running';
  }
}
