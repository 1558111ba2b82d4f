import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { MemoryLevel } from 'memory-level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { compileDelayConfig } from '../../../services/delay/config.ts';
import { DelayHandler, type DelayPartitionState } from '../../../services/delay/delay-handler.ts';
import { DelayMetrics } from '../../../services/delay/delay-metrics.ts';
import { dueKey, idKey, schedulePending, type PendingSend } from '../../../services/delay/pending-sends.ts';
import { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { decodePendingSend } from '../../../services/shared/contracts/send-shapes.ts';
import { readerType } from '../../../services/shared/contracts/schema-files.ts';
import type { DeadLetterPublisher } from '../../../services/shared/kafka/dead-letter-publisher.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import type { PartitionCommit } from '../../../services/shared/stream/commit-protocol.ts';
import { Membership } from '../../../services/shared/stream/membership.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { PunctuationScheduler } from '../../../services/shared/stream/punctuation-scheduler.ts';
import { createRunnerMetrics } from '../../../services/shared/stream/runner-metrics.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';

const NOW = Date.UTC(2026, 10, 23, 12);
const logger = createLogger('punctuation-test', 'silent');

function delayHandler(metrics = new DelayMetrics(new Registry())): DelayHandler {
  return new DelayHandler({
    config: compileDelayConfig({}),
    codec: new SchemaCodec({} as SchemaRegistry),
    readyWriter: { contract: 'ready', schemaId: 1, type: readerType('ready') },
    unreleasedWriter: { contract: 'unreleased', schemaId: 2, type: readerType('unreleased') },
    metrics,
    logger,
    clock: () => NOW,
  });
}

function send(partition: number, index: number, sendAt: number): PendingSend {
  return { scheduleId: `s-${partition}-${index}`, triggerId: `t-${index}`, recipientId: `r-${index}`, campaignId: 'c', messageId: null, channel: 'EMAIL', reason: 'OPTIMIZED', sendAt, timeZone: 'UTC', payload: Buffer.alloc(0) };
}

/** A partition store holding `due` sends already due and one due in an hour. */
async function storeWith(partition: number, due: number): Promise<PartitionStore> {
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-punctuation'), partition, factory: () => db as never });
  const tx = new StateTransaction(store, new CleanCache(0));
  for (let i = 0; i < due; i++) await schedulePending(tx, send(partition, i, NOW - 1_000 + i));
  await schedulePending(tx, send(partition, due, NOW + 3_600_000));
  await store.commit({ puts: tx.dirty, offsets: {} });
  return store;
}

/** Partitions 0..n-1 owned and ready, with the delay handler's state. */
async function owning(handler: DelayHandler, stores: PartitionStore[]): Promise<Membership<DelayPartitionState>> {
  const membership = new Membership<DelayPartitionState>(0);
  const { added } = membership.assign({ t: stores.map((store) => store.partition) }, ['t']);
  for (const owned of added) {
    owned.store = stores[owned.partition]!;
    owned.state = await handler.onOpen(owned.store);
    owned.opened = true;
    owned.phase = 'ready';
  }
  return membership;
}

const letters = { letter: (record: { key: Buffer | null; value: Buffer | null }) => ({ topic: 'dlq', message: { key: record.key, value: record.value } }) } as unknown as DeadLetterPublisher;

function scheduler(handler: DelayHandler, membership: Membership<DelayPartitionState>, commit: (commits: PartitionCommit[]) => Promise<number[]>, registry = new Registry()) {
  return new PunctuationScheduler<DelayPartitionState>({
    handler,
    membership,
    logger,
    metrics: createRunnerMetrics(registry, () => []),
    deadLetters: letters,
    quarantineTopic: 'dlq',
    stateTopic: 'changelog',
    clock: () => NOW,
    clockRate: 1,
    timers: { setTimeout: () => null, clearTimeout: () => undefined },
    commit,
    isActive: () => true,
  });
}

/** A commit that writes each partition's store batch (as the runner's would) and records the outputs. */
function storeCommit(calls: number[][], outputs: string[], gate?: Promise<void>) {
  return async (commits: PartitionCommit[]) => {
    calls.push(commits.map((commit) => commit.store.partition));
    if (calls.length === 1 && gate) await gate;
    for (const commit of commits) {
      outputs.push(...commit.outputs.map((record) => String(record.message.headers?.['sto-schedule-id'] ?? `${record.topic}:${record.message.key}`)));
      await commit.store.commit({ puts: commit.tx.dirty, offsets: {} });
      commit.tx.settle();
    }
    return commits.map((commit) => commit.store.partition);
  };
}

describe('punctuation passes', () => {
  it('release every due partition in one commit, and turn wake-ups during a pass into one more pass', async () => {
    const handler = delayHandler();
    const stores = [await storeWith(0, 30), await storeWith(1, 20), await storeWith(2, 0)];
    const membership = await owning(handler, stores);
    const calls: number[][] = [];
    const released: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const passes = scheduler(handler, membership, storeCommit(calls, released, gate));
    const first = passes.runPasses();
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    await Promise.all([passes.runPasses(), passes.runPasses(), passes.runPasses()]);
    expect(calls).toEqual([[0, 1]]); // partition 2 has nothing due: not locked, not committed
    // A send stored during the pass (as consumption would) is due at once.
    const tx = new StateTransaction(stores[2]!, new CleanCache(0));
    await schedulePending(tx, send(2, 7, NOW - 5));
    await stores[2]!.commit({ puts: tx.dirty, offsets: {} });
    open();
    await first;
    // Three wake-ups during the first pass made one more pass, which released that send.
    expect(calls).toEqual([[0, 1], [2]]);
    expect(released).toHaveLength(51);
    expect(new Set(released).size).toBe(51);
    expect(released).toContain('s-2-7');
    expect(released).not.toContain('s-0-30');
    expect(released).not.toContain('s-1-20');
    expect(membership.get(0)!.state!.pending).toBe(1);
  });

  it('skips a partition revoked while the pass waited for its lock', async () => {
    const handler = delayHandler();
    const stores = [await storeWith(0, 3), await storeWith(1, 3)];
    const membership = await owning(handler, stores);
    const calls: number[][] = [];
    const released: string[] = [];
    const unlock = await membership.get(1)!.lock.acquire(); // a batch of partition 1 is in flight
    const pass = scheduler(handler, membership, storeCommit(calls, released)).runPasses();
    await new Promise((resolve) => setImmediate(resolve));
    membership.assign({ t: [0] }, ['t']); // the rebalance takes partition 1 away
    unlock();
    await pass;
    expect(calls).toEqual([[0]]);
    expect(released.every((id) => id.startsWith('s-0-'))).toBe(true);
  });

  it('drops, and does not count, the work of a partition the commit reports as lost', async () => {
    const metrics = new DelayMetrics(new Registry());
    const handler = delayHandler(metrics);
    const stores = [await storeWith(0, 3)];
    const membership = await owning(handler, stores);
    const registry = new Registry();
    await scheduler(handler, membership, async () => [], registry).runPasses();
    expect(membership.get(0)!.state).toEqual({ pending: 4, uncommitted: 0, unreported: [], fenced: false, watermarkWaitSince: null, lastStoredAt: NOW });
    expect((await registry.getSingleMetric('sto_stream_punctuations_dropped_total')!.get()).values[0]!.value).toBe(1);
    // Nothing was released: the release metrics must not say otherwise (they counted inside the pass before).
    expect((await metrics.releases.get()).values.reduce((sum, value) => sum + value.value, 0)).toBe(0);
    expect((await metrics.lateness.get()).values.find((value) => value.metricName === 'sto_delay_release_lateness_seconds_count')?.value ?? 0).toBe(0);
  });

  it('quarantines an unreadable stored send and releases every other one', async () => {
    const metrics = new DelayMetrics(new Registry());
    const handler = delayHandler(metrics);
    const stores = [await storeWith(0, 3)];
    // A stored value that is not a pending send, due first.
    const corruptKey = `due:${String(NOW - 5_000).padStart(13, '0')}:s-bad`;
    await stores[0]!.commit({ puts: new Map([[corruptKey, Buffer.from('{"scheduleId": tru')], ['id:s-bad', Buffer.from(corruptKey)]]), offsets: {} });
    const membership = await owning(handler, stores);
    const calls: number[][] = [];
    const outputs: string[] = [];
    await scheduler(handler, membership, storeCommit(calls, outputs)).runPasses();
    expect(outputs).toEqual([`dlq:${corruptKey}`, 's-0-0', 's-0-1', 's-0-2']);
    // Committed releases are counted, once each.
    expect((await metrics.releases.get()).values.reduce((sum, value) => sum + value.value, 0)).toBe(3);
    expect(await stores[0]!.get(corruptKey)).toBeUndefined();
    expect(await stores[0]!.get('id:s-bad')).toBeUndefined();
    expect((await metrics.quarantined.get()).values[0]!.value).toBe(1);
    expect(membership.get(0)!.state!.pending).toBe(1);
  });

  it('checks late sends again: one in quiet hours waits for their end, an expired one is recorded, not sent; the rest go', async () => {
    const metrics = new DelayMetrics(new Registry());
    const handler = delayHandler(metrics);
    const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-late'), partition: 0, factory: () => db as never });
    const tx = new StateTransaction(store, new CleanCache(0));
    // NOW is 12:00 UTC. Each was due 3 hours ago: the service was down.
    const late = NOW - 3 * 3_600_000;
    await schedulePending(tx, { ...send(0, 0, late), quietHours: { startMinute: 11 * 60, endMinute: 13 * 60 }, expiresAt: NOW + 86_400_000 });
    await schedulePending(tx, { ...send(0, 1, late), quietHours: null, expiresAt: NOW - 60_000 });
    await schedulePending(tx, { ...send(0, 2, late), quietHours: { startMinute: 22 * 60, endMinute: 7 * 60 }, expiresAt: NOW + 86_400_000 });
    await store.commit({ puts: tx.dirty, offsets: {} });
    const membership = await owning(handler, [store]);
    const outputs: string[] = [];
    await scheduler(handler, membership, async (commits) => {
      for (const commit of commits) {
        outputs.push(...commit.outputs.map((record) => `${record.topic} ${String(record.message.headers?.['sto-schedule-id'])}`));
        await commit.store.commit({ puts: commit.tx.dirty, offsets: {} });
        commit.tx.settle();
      }
      return commits.map((commit) => commit.store.partition);
    }).runPasses();
    // The expired one is recorded on the unreleased topic, the plain late one released; the one in quiet hours waits.
    expect(outputs.sort()).toEqual(['sto.sends.ready.v1 s-0-2', 'sto.sends.unreleased.v1 s-0-1']);
    const moved = Date.UTC(2026, 10, 23, 13);
    expect(await store.get(idKey('s-0-0'))).toEqual(Buffer.from(dueKey(moved, 's-0-0')));
    expect(decodePendingSend((await store.get(dueKey(moved, 's-0-0')))!)).toMatchObject({ sendAt: moved });
    expect(await store.get(idKey('s-0-1'))).toBeUndefined();
    expect(membership.get(0)!.state!.pending).toBe(1);
    const total = async (counter: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await counter.get()).values.reduce((sum, value) => sum + value.value, 0);
    expect([await total(metrics.releases), await total(metrics.expired), await total(metrics.deferred)]).toEqual([1, 1, 1]);
  });
});
