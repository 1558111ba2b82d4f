import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AbstractLevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import type { StoreTuning } from '../config/common-config.ts';
import { ErrorCode, StoError } from '../errors.ts';

export type LevelDb = AbstractLevel<string | Buffer | Uint8Array, string, Buffer>;
export type LevelFactory = (location: string) => LevelDb;

/** Meta keys sort before every data key ("\x00" prefix). */
const META = '\x00meta:';
const OFFSET_KEY = (topic: string) => `${META}offset:${topic}`;
const CHANGELOG_NEXT_KEY = `${META}changelog-next`;

/** LevelDB's own defaults (8 MiB block cache, 4 MiB write buffer) unless tuned. */
export function classicLevelFactory(location: string, tuning?: StoreTuning): LevelDb {
  return new ClassicLevel<string, Buffer>(location, {
    keyEncoding: 'utf8',
    valueEncoding: 'buffer',
    ...(tuning ? { cacheSize: tuning.blockCacheBytes, writeBufferSize: tuning.writeBufferBytes } : {}),
  }) as unknown as LevelDb;
}

export function tunedLevelFactory(tuning: StoreTuning): LevelFactory {
  return (location) => classicLevelFactory(location, tuning);
}

export interface StoreCommit {
  /** Data keys to write (Buffer) or delete (null). */
  puts: ReadonlyMap<string, Buffer | null>;
  /** Next offset to consume, per input topic, written in the same atomic batch as the data. */
  offsets: Readonly<Record<string, number>>;
  /** Next changelog offset this store reflects, when known. */
  changelogNext?: number;
}

/**
 * One LevelDB store per owned partition number (Kafka Streams' task store). The consumed offsets
 * live inside the store, written atomically with the state they produced: the store is the one
 * source of truth, and Kafka's committed offsets are only a lag hint.
 */
export class PartitionStore {
  readonly partition: number;
  readonly location: string;
  readonly #db: LevelDb;
  readonly #offsets = new Map<string, number>();
  #changelogNext = 0;
  #closed = false;

  private constructor(partition: number, location: string, db: LevelDb) {
    this.partition = partition;
    this.location = location;
    this.#db = db;
  }

  static async open(options: { baseDir: string; partition: number; factory?: LevelFactory }): Promise<PartitionStore> {
    const location = join(options.baseDir, `partition-${options.partition}`);
    await mkdir(options.baseDir, { recursive: true });
    const db = (options.factory ?? classicLevelFactory)(location);
    try {
      await db.open();
    } catch (error) {
      const code = (error as { code?: string; cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
      throw new StoError(
        ErrorCode.STORE_FAILURE,
        code === 'LEVEL_LOCKED'
          ? `state store ${location} is locked by another process (two instances must not share STO_STATE_DIR)`
          : `cannot open state store ${location}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const store = new PartitionStore(options.partition, location, db);
    await store.#loadMeta();
    return store;
  }

  async #loadMeta(): Promise<void> {
    for await (const [key, value] of this.#db.iterator({ gte: META, lt: `${META}\xff` })) {
      if (key.startsWith(`${META}offset:`)) this.#offsets.set(key.slice(`${META}offset:`.length), Number(value.toString('utf8')));
      else if (key === CHANGELOG_NEXT_KEY) this.#changelogNext = Number(value.toString('utf8'));
    }
  }

  /** Next offset to process for `topic` (0 when nothing was ever applied). */
  nextOffset(topic: string): number {
    return this.#offsets.get(topic) ?? 0;
  }

  get changelogNext(): number {
    return this.#changelogNext;
  }

  async get(key: string): Promise<Buffer | undefined> {
    return (await this.#db.get(key)) ?? undefined;
  }

  async getMany(keys: string[]): Promise<(Buffer | undefined)[]> {
    return (await this.#db.getMany(keys)).map((value) => value ?? undefined);
  }

  async commit(change: StoreCommit, sync = false): Promise<void> {
    const batch = this.#db.batch();
    for (const [key, value] of change.puts) {
      if (value === null) batch.del(key);
      else batch.put(key, value);
    }
    for (const [topic, offset] of Object.entries(change.offsets)) batch.put(OFFSET_KEY(topic), Buffer.from(String(offset)));
    if (change.changelogNext !== undefined) batch.put(CHANGELOG_NEXT_KEY, Buffer.from(String(change.changelogNext)));
    await batch.write({ sync });
    for (const [topic, offset] of Object.entries(change.offsets)) this.#offsets.set(topic, offset);
    if (change.changelogNext !== undefined) this.#changelogNext = change.changelogNext;
  }

  /** Data entries in key order within [gte, lt). */
  async *entries(range: { gte: string; lt: string; limit?: number }): AsyncGenerator<[string, Buffer]> {
    for await (const entry of this.#db.iterator({ gte: range.gte, lt: range.lt, limit: range.limit ?? -1 })) yield entry;
  }

  async countEntries(range: { gte: string; lt: string }): Promise<number> {
    let count = 0;
    for await (const _ of this.#db.keys({ gte: range.gte, lt: range.lt })) count++;
    return count;
  }

  /** Physically drops deleted keys of a range (LevelDB deletes are tombstones until compaction). */
  async compactRange(start: string, end: string): Promise<void> {
    const db = this.#db as unknown as { compactRange?: (start: string, end: string) => Promise<void> };
    if (typeof db.compactRange === 'function') await db.compactRange(start, end);
  }

  async approximateBytes(): Promise<number> {
    const db = this.#db as unknown as { approximateSize?: (start: string, end: string) => Promise<number> };
    return typeof db.approximateSize === 'function' ? db.approximateSize('\x00', '\xff') : 0;
  }

  /** Empties the store (before a full restore). */
  async clear(): Promise<void> {
    await this.#db.clear();
    this.#offsets.clear();
    this.#changelogNext = 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
  }

  static async destroy(baseDir: string, partition: number): Promise<void> {
    await rm(join(baseDir, `partition-${partition}`), { recursive: true, force: true });
  }
}
