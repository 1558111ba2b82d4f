import type { Producer } from 'kafkajs';
import { DeadLetterPublisher } from '../../../services/shared/kafka/dead-letter-publisher.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { KafkaMessage } from 'kafkajs';
import { MemoryLevel } from 'memory-level';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { decodeAggregate } from '../../../services/outcomes/campaign-aggregate.ts';
import { compileOutcomesConfig } from '../../../services/outcomes/config.ts';
import { OutcomesHandler, type OutcomesPartitionState } from '../../../services/outcomes/outcomes-handler.ts';
import { OutcomesMetrics } from '../../../services/outcomes/outcomes-metrics.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { DeadLetter, EngagementEvent, SendOutcome } from '../../../services/shared/contracts/record-types.ts';
import { SchemaCodec, type Writer } from '../../../services/shared/contracts/schema-codec.ts';
import { readSchemaJson, valueSubject, type ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import type { OutgoingRecord } from '../../../services/shared/stream/partitioned-runner.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';
import { FakeRegistry } from '../../support/engine-harness.ts';
import { sampleScheduled } from '../../support/sample-records.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 2, 2, 8);

async function setUp() {
  const config = compileOutcomesConfig({ STO_OUTCOMES_CONVERSION_WINDOW_HOURS: '1', STO_OUTCOMES_LATE_GRACE_MINUTES: '0' });
  const { topics } = config.common;
  const registry = new FakeRegistry();
  const subjects: [ContractName, string][] = [['erasure', topics.erasure], ['scheduled', topics.scheduled], ['ready', topics.ready], ['engagement', topics.engagement], ['outcome', topics.outcomes], ['deadLetter', deadLetterTopic(topics.engagement)]];
  for (const [contract, topic] of subjects) registry.add(valueSubject(topic), readSchemaJson(contract));
  const codec = new SchemaCodec(registry as unknown as SchemaRegistry);
  const writers = new Map<ContractName, Writer>();
  for (const [contract, topic] of subjects) writers.set(contract, await codec.writer(contract, valueSubject(topic)));
  const metrics = new Registry();
  const handler = new OutcomesHandler({ config, codec, outcomeWriter: writers.get('outcome')!, deadLetters: new DeadLetterPublisher({ producer: {} as Producer, codec, writer: writers.get('deadLetter')!, service: 'outcomes', clock: () => T0 }), metrics: new OutcomesMetrics(metrics), clock: () => T0 });
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-outcomes-handler'), partition: 0, factory: () => db as never });
  const state: OutcomesPartitionState = await handler.onOpen(store);
  const cache = new CleanCache(1_000);
  let offset = 0;
  /** One record through the handler and committed, as the runner does. */
  const feed = async (topic: string, contract: ContractName, record: unknown): Promise<OutgoingRecord[]> => {
    const outputs: OutgoingRecord[] = [];
    const tx = new StateTransaction(store, cache);
    const message = { key: Buffer.from('r-1'), value: codec.encode(writers.get(contract)!, record), offset: String(offset++), timestamp: String(T0), headers: {} } as unknown as KafkaMessage;
    await handler.handle(topic, message, tx, (out) => outputs.push(out), state);
    await store.commit({ puts: tx.dirty, offsets: { [topic]: offset } });
    tx.settle();
    handler.afterCommit(0, state);
    return outputs;
  };
  const punctuate = async (now: number): Promise<OutgoingRecord[]> => {
    const outputs: OutgoingRecord[] = [];
    const tx = new StateTransaction(store, cache);
    await handler.punctuate({ tx, emit: (out) => outputs.push(out), now, quarantine: () => undefined }, state);
    await store.commit({ puts: tx.dirty, offsets: {} });
    tx.settle();
    handler.afterCommit(0, state);
    return outputs;
  };
  const metric = async (name: string, labels: Record<string, string>) => {
    const values = (await metrics.getSingleMetric(name)!.get()).values;
    return values.find((value) => Object.entries(labels).every(([key, label]) => value.labels[key] === label))?.value ?? 0;
  };
  return { config, topics, codec, store, feed, punctuate, metric };
}

const send = { ...sampleScheduled(1, 'r-1'), action: 'SCHEDULE' as const, scheduleId: 's-1', campaignId: 'c', channel: 'EMAIL' as const, sendAt: T0, triggeredAt: T0 - HOUR, arm: 'TREATMENT' as const, reason: 'OPTIMIZED' as const, propensity: 0.9 };
const ready = { scheduleId: 's-1', triggerId: send.triggerId, recipientId: 'r-1', campaignId: 'c', messageId: send.messageId, channel: 'EMAIL' as const, reason: 'OPTIMIZED' as const, sendAt: T0, releasedAt: T0, timeZone: 'UTC', payload: Buffer.alloc(0) };
const engagement = (eventId: string, eventType: EngagementEvent['eventType'], occurredAt: number): EngagementEvent => ({ eventId, recipientId: 'r-1', channel: 'EMAIL', eventType, occurredAt, timeZone: null, campaignId: 'c', messageId: null, machineOpen: null, userAgent: 'Mozilla/5.0', deliveredAt: null, scheduleId: 's-1', correlationId: null, value: null, currency: null, bounceKind: null, attributes: {} });

describe('the outcomes handler on one partition store', () => {
  it('closes a send once, with its aggregate, and ignores its records after the close', async () => {
    const { topics, codec, feed, punctuate, metric } = await setUp();
    await feed(topics.scheduled, 'scheduled', send);
    await feed(topics.ready, 'ready', ready);
    await feed(topics.engagement, 'engagement', engagement('d', 'DELIVERY', T0 + 1_000));
    await feed(topics.engagement, 'engagement', engagement('o', 'OPEN', T0 + 10 * 60_000));
    expect(await punctuate(T0 + HOUR)).toEqual([]);
    const closed = await punctuate(T0 + 1_000 + HOUR);
    const outcome = await codec.decode<SendOutcome>('outcome', closed.find((out) => out.topic === topics.outcomes)!.message.value as Buffer);
    expect(outcome).toMatchObject({ scheduleId: 's-1', status: 'DELIVERED', firstOpenAt: T0 + 10 * 60_000, arm: 'TREATMENT' });
    const aggregate = decodeAggregate(closed.find((out) => out.topic === topics.campaignAggregates)!.message.value as Buffer);
    expect(aggregate.arms.TREATMENT).toMatchObject({ sends: 1, opens: 1 });
    // Replays after the close reopen nothing and close nothing again.
    await feed(topics.scheduled, 'scheduled', send);
    await feed(topics.engagement, 'engagement', engagement('o', 'OPEN', T0 + 10 * 60_000));
    expect(await punctuate(T0 + 100 * HOUR)).toEqual([]);
    expect(await metric('sto_outcomes_send_records_total', { source: 'closed_send' })).toBe(1);
    expect(await metric('sto_outcomes_events_total', { outcome: 'closed_send' })).toBe(1);
  });

  it('an unreadable stored send record starts fresh and its key and bytes go to the dead-letter topic', async () => {
    const { topics, codec, store, feed, metric } = await setUp();
    await store.commit({ puts: new Map([['send:s-1', Buffer.from('{not json')]]), offsets: {} });
    const outputs = await feed(topics.engagement, 'engagement', engagement('d', 'DELIVERY', T0 + 1_000));
    const letter = outputs.find((out) => out.topic === deadLetterTopic(topics.engagement));
    expect(letter).toBeDefined();
    const decoded = await codec.decode<DeadLetter>('deadLetter', letter!.message.value as Buffer);
    expect(decoded).toMatchObject({ errorCode: 'CORRUPT_STATE', service: 'outcomes', sourceTopic: topics.outcomesChangelog });
    expect(decoded.value?.toString()).toBe('{not json');
    expect(await store.get('send:s-1')).toBeUndefined();
    expect(await metric('sto_outcomes_quarantined_total', {})).toBe(1);
  });

  it('an erasure removes the recipient\'s open sends and indexes: nothing of them closes, late records reopen nothing, other recipients\' sends do close', async () => {
    const { topics, store, feed, punctuate, metric } = await setUp();
    const other = { ...send, scheduleId: 's-2', recipientId: 'r-2', messageId: 'm-2' };
    await feed(topics.scheduled, 'scheduled', send);
    await feed(topics.ready, 'ready', ready);
    await feed(topics.scheduled, 'scheduled', other);
    const erasure = await feed(topics.erasure, 'erasure', { requestId: 'x', recipientId: 'r-1', requestedAt: T0 });
    expect(erasure).toEqual([]);
    const left: string[] = [];
    for await (const [key] of store.entries({ gte: '', lt: '\xff' })) left.push(key);
    // Only the closed-id markers remain: they name no recipient, and they make the send's late records no-ops.
    expect(left.filter((key) => key.includes('s-1') || key.includes('r-1')).map((key) => key.replace(/\d{15}/, 'T'))).toEqual(['closed:s-1', 'closedby:T:s-1']);
    await feed(topics.ready, 'ready', ready);
    await feed(topics.engagement, 'engagement', engagement('d', 'DELIVERY', T0 + 1_000));
    const closed = await punctuate(T0 + 1_000 * HOUR);
    expect(closed.filter((out) => out.topic === topics.outcomes).map((out) => String(out.message.key))).toEqual(['s-2']);
    expect(await metric('sto_outcomes_send_records_total', { source: 'erased' })).toBe(1);
    expect(await metric('sto_outcomes_send_records_total', { source: 'closed_send' })).toBe(1);
  });

  it('an erasure after a send closed puts a tombstone for its outcome on the compacted outcomes topic', async () => {
    const { topics, feed, punctuate, metric } = await setUp();
    const other = { ...send, scheduleId: 's-2', recipientId: 'r-2', messageId: 'm-2' };
    await feed(topics.scheduled, 'scheduled', send);
    await feed(topics.scheduled, 'scheduled', other);
    await feed(topics.ready, 'ready', ready);
    const closed = await punctuate(T0 + 1_000 * HOUR);
    expect(closed.filter((out) => out.topic === topics.outcomes).map((out) => String(out.message.key)).sort()).toEqual(['s-1', 's-2']);
    const erasure = await feed(topics.erasure, 'erasure', { requestId: 'x', recipientId: 'r-1', requestedAt: T0 });
    expect(erasure.map((out) => ({ topic: out.topic, key: String(out.message.key), value: out.message.value }))).toEqual([{ topic: topics.outcomes, key: 's-1', value: null }]);
    expect(await metric('sto_outcomes_send_records_total', { source: 'erased_outcome' })).toBe(1);
    // A second request finds nothing left to erase.
    expect(await feed(topics.erasure, 'erasure', { requestId: 'y', recipientId: 'r-1', requestedAt: T0 })).toEqual([]);
  });
});
