import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import { PartitionStore, type LevelFactory } from '../../../services/shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';

const MEM_DIR = join(tmpdir(), 'sto-memory-level');

function memoryFactory(): LevelFactory {
  const dbs = new Map<string, MemoryLevel<string, Buffer>>();
  return (location) => {
    let db = dbs.get(location);
    if (!db) {
      db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
      dbs.set(location, db);
    }
    return db as never;
  };
}

describe('partition store', () => {
  it('writes state and consumed offsets in one batch and reads them back after reopening', async () => {
    const factory = memoryFactory();
    const store = await PartitionStore.open({ baseDir: MEM_DIR, partition: 3, factory });
    expect(store.nextOffset('t')).toBe(0);
    await store.commit({ puts: new Map([['r:a', Buffer.from('1')]]), offsets: { t: 42 }, changelogNext: 7 });
    await store.close();
    const reopened = await PartitionStore.open({ baseDir: MEM_DIR, partition: 3, factory });
    expect(reopened.nextOffset('t')).toBe(42);
    expect(reopened.changelogNext).toBe(7);
    expect((await reopened.get('r:a'))?.toString()).toBe('1');
    await reopened.commit({ puts: new Map([['r:a', null]]), offsets: { t: 43 } });
    expect(await reopened.get('r:a')).toBeUndefined();
    expect(await reopened.countEntries({ gte: 'r:', lt: 'r:\xff' })).toBe(0);
  });

  it('transaction reads its own writes, then the cache, then the store', async () => {
    const store = await PartitionStore.open({ baseDir: MEM_DIR, partition: 0, factory: memoryFactory() });
    await store.commit({ puts: new Map([['k', Buffer.from('stored')]]), offsets: {} });
    const cache = new CleanCache(10);
    const tx = new StateTransaction(store, cache);
    expect((await tx.get('k'))?.toString()).toBe('stored');
    expect(cache.misses).toBe(1);
    expect((await tx.get('k'))?.toString()).toBe('stored');
    expect(cache.hits).toBe(1);
    tx.put('k', Buffer.from('dirty'));
    expect((await tx.get('k'))?.toString()).toBe('dirty');
    tx.delete('k');
    expect(await tx.get('k')).toBeUndefined();
    expect(await tx.get('missing')).toBeUndefined();
    expect(await tx.get('missing')).toBeUndefined();
    expect(cache.hits).toBe(2);
  });

  it('bounds the clean cache, evicting the least recently used first', () => {
    const cache = new CleanCache(32);
    for (let i = 0; i < 32; i++) cache.remember(`k${i}`, null);
    expect(cache.lookup('k0')).toBeNull(); // used: now the most recent
    for (let i = 32; i < 1_000; i++) {
      cache.remember(`k${i}`, null);
      expect(cache.size).toBeLessThanOrEqual(32);
      if (i === 32) expect(cache.has('k0') && !cache.has('k1')).toBe(true);
    }
    expect(cache.size).toBeGreaterThanOrEqual(30);
    for (let i = 999; i > 999 - 30; i--) expect(cache.has(`k${i}`), `k${i}`).toBe(true);
    expect(cache.has('k0')).toBe(false);
  });
});
