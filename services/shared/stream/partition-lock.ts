/** A FIFO mutex for one partition's state: a batch, a punctuation and a close never overlap. */
export class PartitionLock {
  #tail: Promise<void> = Promise.resolve();

  /** Waits for the lock; returns the function that releases it. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    return release;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Resolves once everything queued so far has run. */
  async drained(): Promise<void> {
    await this.#tail;
  }
}

/** Acquires several locks in a fixed order (callers sort by partition), so two passes cannot deadlock. */
export async function acquireAll(locks: readonly PartitionLock[]): Promise<() => void> {
  const releases: (() => void)[] = [];
  try {
    for (const lock of locks) releases.push(await lock.acquire());
  } catch (error) {
    for (const release of releases) release();
    throw error;
  }
  return () => {
    for (const release of releases) release();
  };
}
