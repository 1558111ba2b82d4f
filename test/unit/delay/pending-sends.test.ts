import { MemoryLevel } from 'memory-level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cancelPending, dueKey, earliestDue, erasePending, idKey, schedulePending, takeDue, type PendingSend } from '../../../services/delay/pending-sends.ts';
import { MAX_TIMER_MS, WakeUpTimer, type TimerApi } from '../../../services/shared/stream/wake-up-timer.ts';
import { TokenBucket } from '../../../services/delay/token-bucket.ts';
import { decodePendingSend } from '../../../services/shared/contracts/send-shapes.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';

async function memoryStore(): Promise<PartitionStore> {
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  return PartitionStore.open({ baseDir: join(tmpdir(), 'sto-delay-unit'), partition: 0, factory: () => db as never });
}

function send(id: number, sendAt: number, recipient = `r-${id % 50}`, channel: PendingSend['channel'] = 'EMAIL'): PendingSend {
  return { scheduleId: `s-${id}`, triggerId: `t-${id}`, recipientId: recipient, campaignId: 'c', messageId: null, channel, reason: 'OPTIMIZED', sendAt, timeZone: 'UTC', payload: Buffer.alloc(0) };
}

async function commit(store: PartitionStore, tx: StateTransaction): Promise<void> {
  await store.commit({ puts: tx.dirty, offsets: {} });
  tx.settle();
}

/** A deterministic PRNG for the test data. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('pending sends', () => {
  it('never releases a send before its instant, and releases each exactly once', async () => {
    const store = await memoryStore();
    const cache = new CleanCache(0);
    const random = rng(7);
    const start = Date.UTC(2026, 10, 22, 12);
    const sends: PendingSend[] = [];
    for (let i = 0; i < 3_000; i++) {
      // Many in the same second, the rest spread over two days, one 40 days ahead.
      const at = i < 1_000 ? start + 3_600_000 + Math.floor(random() * 1_000) : start + Math.floor(random() * 2 * 86_400_000);
      sends.push(send(i, at));
    }
    sends.push(send(99_999, start + 40 * 86_400_000));
    let tx = new StateTransaction(store, cache);
    for (const item of sends) await schedulePending(tx, item);
    await commit(store, tx);

    const released = new Map<string, number>();
    let now = start;
    while (released.size < sends.length) {
      tx = new StateTransaction(store, cache);
      const { due } = await takeDue(tx, now, 500, () => 0);
      await commit(store, tx);
      for (const item of due) {
        expect(item.sendAt).toBeLessThanOrEqual(now);
        expect(released.has(item.scheduleId)).toBe(false);
        released.set(item.scheduleId, now);
      }
      const next = await earliestDue({ store });
      if (due.length < 500) now = next === null ? now : Math.max(now + 1, next + Math.floor(random() * 50));
    }
    expect(released.size).toBe(sends.length);
    expect(await earliestDue({ store })).toBeNull();
  });

  it('replaces a schedule with the same id, cancels by id, and erases a recipient', async () => {
    const store = await memoryStore();
    const tx = new StateTransaction(store, new CleanCache(10));
    expect(await schedulePending(tx, send(1, 5_000, 'alice'))).toBe(1);
    expect(await schedulePending(tx, send(1, 9_000, 'alice'))).toBe(0);
    await schedulePending(tx, send(2, 6_000, 'alice'));
    await schedulePending(tx, send(3, 7_000, 'bob'));
    await commit(store, tx);
    expect(await earliestDue({ store })).toBe(6_000);
    const tx2 = new StateTransaction(store, new CleanCache(10));
    expect(await cancelPending(tx2, 's-3')).toBe(true);
    expect(await cancelPending(tx2, 's-3')).toBe(false);
    expect(await erasePending(tx2, 'alice')).toBe(2);
    await commit(store, tx2);
    expect(await earliestDue({ store })).toBeNull();
    expect(await store.countEntries({ gte: '', lt: '\xff' })).toBe(0);
  });

  it('holds sends back under a rate limit without dropping any', async () => {
    const store = await memoryStore();
    let tx = new StateTransaction(store, new CleanCache(0));
    for (let i = 0; i < 30; i++) await schedulePending(tx, send(i, 1_000, `r-${i}`, i % 2 ? 'SMS' : 'EMAIL'));
    await commit(store, tx);
    const bucket = new TokenBucket(10, 5, 1_000);
    let now = 1_000;
    let smsReleased = 0;
    let emailReleased = 0;
    for (let round = 0; round < 50 && smsReleased + emailReleased < 30; round++) {
      tx = new StateTransaction(store, new CleanCache(0));
      const { due, retryInMs } = await takeDue(tx, now, 100, (item) => (item.channel === 'SMS' ? bucket.take(now) : 0));
      await commit(store, tx);
      smsReleased += due.filter((item) => item.channel === 'SMS').length;
      emailReleased += due.filter((item) => item.channel === 'EMAIL').length;
      if (round === 0) {
        expect(smsReleased).toBe(5);
        expect(emailReleased).toBe(15);
        expect(retryInMs).toBe(100);
      }
      now += retryInMs ?? 100;
    }
    expect(smsReleased).toBe(15);
    expect(now).toBeGreaterThanOrEqual(2_000);
  });
});

describe('wake-up timer', () => {
  it('never arms a Node timer longer than a minute, however far the send is', () => {
    const armed: number[] = [];
    const timers: TimerApi = { setTimeout: (_callback, ms) => armed.push(ms), clearTimeout: () => undefined };
    const timer = new WakeUpTimer({ clock: () => 0, timers, fire: () => undefined });
    timer.arm(0, 40 * 86_400_000);
    expect(armed).toEqual([MAX_TIMER_MS]);
    timer.arm(0, 10);
    expect(armed).toEqual([MAX_TIMER_MS, 10]);
    timer.arm(0, 500);
    expect(armed).toHaveLength(2);
    expect(MAX_TIMER_MS).toBeLessThan(2 ** 31 - 1);
  });

  it('sleeps in real time under an accelerated clock (the demo clock)', () => {
    const armed: number[] = [];
    const timers: TimerApi = { setTimeout: (_callback, ms) => armed.push(ms), clearTimeout: () => undefined };
    const timer = new WakeUpTimer({ clock: () => 0, clockRate: 1_000, timers, fire: () => undefined });
    timer.arm(0, 10_000);
    timer.arm(1, 40 * 86_400_000);
    expect(armed).toEqual([10, MAX_TIMER_MS / 1_000]);
  });
});

describe('unreadable stored sends while consuming', () => {
  it('a replacement or erasure removes a stored send that cannot be read, and reports it, instead of failing the batch', async () => {
    const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-corrupt-pending'), partition: 0, factory: () => db as never });
    const corruptKey = dueKey(1_000, 's-1');
    await store.commit({ puts: new Map([[corruptKey, Buffer.from('\x00garbage')], [idKey('s-1'), Buffer.from(corruptKey)]]), offsets: {} });
    const reported: [string, string][] = [];
    const tx = new StateTransaction(store, new CleanCache(0));
    const fresh = { scheduleId: 's-1', triggerId: 't', recipientId: 'r', campaignId: 'c', messageId: null, channel: 'EMAIL' as const, reason: 'OPTIMIZED' as const, sendAt: 2_000, timeZone: 'UTC', payload: Buffer.alloc(0) };
    expect(await schedulePending(tx, fresh, (key, value) => reported.push([key, value.toString('latin1')]))).toBe(0);
    expect(reported).toEqual([[corruptKey, '\x00garbage']]);
    await store.commit({ puts: tx.dirty, offsets: {} });
    expect(await store.get(corruptKey)).toBeUndefined();
    expect(decodePendingSend((await store.get(dueKey(2_000, 's-1')))!)).toMatchObject({ scheduleId: 's-1', sendAt: 2_000 });
  });
});
