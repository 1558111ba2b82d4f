/**
 * Keeps a campaign stop from landing in the middle of a release pass. A pass checks each send
 * against the campaign stops and only then produces it: a stop applied between the check and
 * the produce would let a send of a stopped campaign out after the stop was read. So the table
 * applies a stop only when no pass is between its checks and its commit, and a pass that begins
 * while a stop waits begins after it. Passes are one at a time (the runner's punctuation), and
 * each partition of a pass enters on its first check and leaves once its commit is done or
 * dropped, so a pass never waits for a stop that waits for the pass.
 */
export class ReleaseFence {
  /** Partitions of the running pass that entered and have not left. */
  #inside = 0;
  /** Changes asked for and not yet applied (counted at once, so a pass that begins after the ask waits). */
  #waitingChanges = 0;
  #drained: Array<() => void> = [];
  #changesDone: Array<() => void> = [];
  #queue: Promise<void> = Promise.resolve();

  /** Before a partition's first check of a pass. */
  async enter(): Promise<void> {
    // A partition of the pass already inside: the pass is before any waiting stop.
    while (this.#waitingChanges > 0 && this.#inside === 0) await new Promise<void>((resolve) => this.#changesDone.push(resolve));
    this.#inside++;
  }

  /** After the partition's commit (or when it had nothing to commit, or its pass failed). */
  leave(): void {
    if (this.#inside === 0) return;
    this.#inside--;
    if (this.#inside === 0) for (const resolve of this.#drained.splice(0)) resolve();
  }

  /** Runs `change` (applying campaign stops) once no pass is inside; passes wait for it meanwhile. */
  apply(change: () => void): Promise<void> {
    this.#waitingChanges++;
    const run = this.#queue.then(async () => {
      try {
        while (this.#inside > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
        change();
      } finally {
        this.#waitingChanges--;
        if (this.#waitingChanges === 0) for (const resolve of this.#changesDone.splice(0)) resolve();
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  get passesInside(): number {
    return this.#inside;
  }
}
