import type { PartitionStore } from './partition-store.ts';

/**
 * Bounded cache of clean store values (LRU by insertion order), with `null` remembered for keys
 * known to be absent, so a new recipient does not cost a LevelDB read per event.
 */
export class CleanCache {
  readonly #entries = new Map<string, Buffer | null>();
  readonly #maxEntries: number;
  hits = 0;
  misses = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  lookup(key: string): Buffer | null | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  remember(key: string, value: Buffer | null): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#maxEntries) this.#evict();
  }

  /**
   * Drops the oldest sixteenth in one pass of one iterator. Evicting one entry per insert with a
   * fresh `keys().next()` each time costs a scan over every slot deleted before it (V8 keeps them
   * until the table is rebuilt): in a profile of 1M events, 38% of the engine's CPU time.
   */
  #evict(): void {
    let excess = this.#entries.size - this.#maxEntries + Math.ceil(this.#maxEntries / 16);
    for (const key of this.#entries.keys()) {
      if (excess-- <= 0) break;
      this.#entries.delete(key);
    }
  }

  /** Whether the key is cached (present or known absent), without counting a hit or miss. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Marks a cached key as just used (so a batch about to read it does not see it evicted); false when absent. */
  touch(key: string): boolean {
    const value = this.#entries.get(key);
    if (value === undefined) return false;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return true;
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * The write-back view of one partition's state while a fetched batch is processed: reads go
 * dirty → clean cache → LevelDB; writes stay in memory until the runner commits them in one
 * atomic batch together with the consumed offsets.
 */
export class StateTransaction {
  readonly partition: number;
  readonly #store: PartitionStore;
  readonly #cache: CleanCache;
  readonly dirty = new Map<string, Buffer | null>();
  /** Bytes written so far (an upper bound of the changelog this transaction produces). */
  bytes = 0;

  constructor(store: PartitionStore, cache: CleanCache) {
    this.partition = store.partition;
    this.#store = store;
    this.#cache = cache;
  }

  async get(key: string): Promise<Buffer | undefined> {
    if (this.dirty.has(key)) return this.dirty.get(key) ?? undefined;
    const cached = this.#cache.lookup(key);
    if (cached !== undefined) return cached ?? undefined;
    const value = await this.#store.get(key);
    this.#cache.remember(key, value ?? null);
    return value;
  }

  /**
   * Reads the keys that are neither dirty nor cached in one LevelDB call and caches them, so the
   * records of a batch then read from memory instead of one asynchronous read each.
   */
  async prefetch(keys: Iterable<string>): Promise<void> {
    const missing: string[] = [];
    for (const key of keys) if (!this.dirty.has(key) && !this.#cache.touch(key)) missing.push(key);
    if (missing.length === 0) return;
    const values = await this.#store.getMany(missing);
    missing.forEach((key, index) => this.#cache.remember(key, values[index] ?? null));
  }

  put(key: string, value: Buffer): void {
    this.dirty.set(key, value);
    this.bytes += key.length + value.length;
  }

  delete(key: string): void {
    this.dirty.set(key, null);
    this.bytes += key.length;
  }

  /** Direct access for range scans (e.g. a recipient's pending sends); sees committed data only. */
  get store(): PartitionStore {
    return this.#store;
  }

  /** After a successful commit: the dirty values become clean cache entries. */
  settle(): void {
    for (const [key, value] of this.dirty) this.#cache.remember(key, value);
    this.dirty.clear();
    this.bytes = 0;
  }
}
