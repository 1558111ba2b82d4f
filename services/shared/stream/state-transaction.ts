import type { PartitionStore } from './partition-store.ts';

/** A cached key: its value and its neighbours in recency order. */
interface CacheEntry {
  key: string;
  value: Buffer | null;
  /** The next more recently used entry (null: this is the most recent). */
  newer: CacheEntry | null;
  /** The next less recently used entry (null: this is the least recent). */
  older: CacheEntry | null;
}

/**
 * Bounded cache of clean store values (least recently used evicted first), with `null` remembered
 * for keys known to be absent, so a new recipient does not cost a LevelDB read per event.
 *
 * Recency is a doubly linked list beside the map: a hit relinks two neighbours instead of deleting
 * and re-inserting the key (which, at three uses per event, was 9% of the engine's CPU time in a
 * profile of 500k events: V8's ordered hash table keeps deleted slots until it rebuilds).
 */
export class CleanCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #maxEntries: number;
  #newest: CacheEntry | null = null;
  #oldest: CacheEntry | null = null;
  hits = 0;
  misses = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  #unlink(entry: CacheEntry): void {
    if (entry.newer) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    entry.newer = null;
    entry.older = null;
  }

  #linkNewest(entry: CacheEntry): void {
    entry.older = this.#newest;
    entry.newer = null;
    if (this.#newest) this.#newest.newer = entry;
    this.#newest = entry;
    if (!this.#oldest) this.#oldest = entry;
  }

  #use(entry: CacheEntry): void {
    if (this.#newest === entry) return;
    this.#unlink(entry);
    this.#linkNewest(entry);
  }

  lookup(key: string): Buffer | null | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#use(entry);
    return entry.value;
  }

  remember(key: string, value: Buffer | null): void {
    if (this.#maxEntries <= 0) return;
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      this.#use(entry);
      return;
    }
    const added: CacheEntry = { key, value, newer: null, older: null };
    this.#entries.set(key, added);
    this.#linkNewest(added);
    if (this.#entries.size > this.#maxEntries) this.#evict();
  }

  /** Drops the least recently used sixteenth at once, so an insert into a full cache rarely evicts. */
  #evict(): void {
    let excess = this.#entries.size - this.#maxEntries + Math.ceil(this.#maxEntries / 16);
    while (excess-- > 0 && this.#oldest) {
      const entry = this.#oldest;
      this.#unlink(entry);
      this.#entries.delete(entry.key);
    }
  }

  /** Whether the key is cached (present or known absent), without counting a hit or miss. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Marks a cached key as just used (so a batch about to read it does not see it evicted); false when absent. */
  touch(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#use(entry);
    return true;
  }

  forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#unlink(entry);
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** How many entries it keeps at most. */
  get capacity(): number {
    return this.#maxEntries;
  }

  clear(): void {
    this.#entries.clear();
    this.#newest = null;
    this.#oldest = null;
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
    // One lookup of the dirty map, not has() then get(): a read per event on the ingest path.
    const written = this.dirty.get(key);
    if (written !== undefined) return written ?? undefined;
    const cached = this.#cache.lookup(key);
    if (cached !== undefined) return cached ?? undefined;
    return this.#readStore(key);
  }

  async #readStore(key: string): Promise<Buffer | undefined> {
    const value = await this.#store.get(key);
    this.#cache.remember(key, value ?? null);
    return value;
  }

  /**
   * get() without the promise when the value is in memory (written, or cached; null = known
   * absent), else the promise of the store's read. An await costs microtask turns and a promise,
   * and the ingest path reads several keys per event, nearly all of them in memory.
   */
  read(key: string): Buffer | null | Promise<Buffer | undefined> {
    const written = this.dirty.get(key);
    if (written !== undefined) return written;
    const cached = this.#cache.lookup(key);
    if (cached !== undefined) return cached;
    return this.#readStore(key);
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
