import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { MemoryLevel } from 'memory-level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { compileDelayConfig } from '../../../services/delay/config.ts';
import { DelayHandler } from '../../../services/delay/delay-handler.ts';
import { DelayMetrics } from '../../../services/delay/delay-metrics.ts';
import { schedulePending, type PendingSend } from '../../../services/delay/pending-sends.ts';
import { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { readerType } from '../../../services/shared/contracts/schema-files.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import type { OutgoingRecord } from '../../../services/shared/stream/partitioned-runner.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';

const NOW = Date.UTC(2026, 10, 23, 12);

function handler(): DelayHandler {
  return new DelayHandler({
    config: compileDelayConfig({}),
    codec: new SchemaCodec({} as SchemaRegistry),
    readyWriter: { contract: 'ready', schemaId: 1, type: readerType('ready') },
    metrics: new DelayMetrics(new Registry()),
    logger: createLogger('release-flight-test', 'silent'),
    clock: () => NOW,
    timers: { setTimeout: () => null, clearTimeout: () => undefined },
  });
}

function send(partition: number, index: number, sendAt: number): PendingSend {
  return { scheduleId: `s-${partition}-${index}`, triggerId: `t-${index}`, recipientId: `r-${index}`, campaignId: 'c', messageId: null, channel: 'EMAIL', reason: 'OPTIMIZED', sendAt, timeZone: 'UTC', payload: '' };
}

/** A partition store holding `due` sends already due and one due in an hour. */
async function storeWith(partition: number, due: number): Promise<PartitionStore> {
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-release-flight'), partition, factory: () => db as never });
  const tx = new StateTransaction(store, new CleanCache(0));
  for (let i = 0; i < due; i++) await schedulePending(tx, send(partition, i, NOW - 1_000 + i));
  await schedulePending(tx, send(partition, due, NOW + 3_600_000));
  await store.commit({ puts: tx.dirty, offsets: {} });
  return store;
}

describe('release passes', () => {
  it('release every due partition in one commit, and turn wake-ups during a pass into one more pass', async () => {
    const delay = handler();
    const stores = [await storeWith(0, 30), await storeWith(1, 20), await storeWith(2, 0)];
    for (const store of stores) await delay.onOpen(store);
    const calls: number[][] = [];
    const released: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    delay.attach({
      runExclusiveMany: async (partitions, mutate) => {
        calls.push([...partitions]);
        if (calls.length === 1) await gate;
        for (const partition of partitions) {
          const store = stores[partition]!;
          const tx = new StateTransaction(store, new CleanCache(0));
          const outputs: OutgoingRecord[] = [];
          await mutate(tx, (record) => outputs.push(record));
          released.push(...outputs.map((record) => String(record.message.headers?.['sto-schedule-id'])));
          await store.commit({ puts: tx.dirty, offsets: {} });
        }
        return [...partitions];
      },
    });
    const first = delay.releaseDueSends();
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    await Promise.all([delay.releaseDueSends(), delay.releaseDueSends(), delay.releaseDueSends()]);
    expect(calls).toEqual([[0, 1]]); // partition 2 has nothing due: not locked
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
    // The sends due in an hour stay.
    expect(released).not.toContain('s-0-30');
    expect(released).not.toContain('s-1-20');
  });
});
