import { afterAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { dumpEngineState, dumpStore, type DumpLine } from '../../../services/engine/state-dump.ts';
import type { EngagementEvent, ErasureRequest, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import type { Kafka } from 'kafkajs';
import { createLogger } from '../../../services/shared/logger.ts';
import { restoreFromChangelog } from '../../../services/shared/stream/changelog.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { EngineOracle, engineEnv, partitionOf, produceRecords } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { freePort } from '../support/free-port.ts';

const PARTITIONS = 2;
const HOUR = 3_600_000;
const ERASED = 'alice-erased';

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Every record of a topic up to its current end, in offset order per partition. */
async function readAll(kafka: Kafka, topic: string): Promise<{ partition: number; key: string; value: Buffer | null }[]> {
  const admin = kafka.admin();
  await admin.connect();
  const marks = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const ends = new Map(marks.map((mark) => [mark.partition, Number(mark.high)]));
  const records: { partition: number; key: string; value: Buffer | null; offset: number }[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.audit.${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => void records.push({ partition, key: message.key?.toString('utf8') ?? '', value: message.value, offset: Number(message.offset) }) });
    const complete = async () => [...ends].every(([partition, end]) => end === 0 || records.some((record) => record.partition === partition && record.offset === end - 1));
    await waitFor(`the whole of ${topic}`, complete, 60_000);
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Restores fresh stores from a changelog, as a new owner would, and returns every stored key and value. */
async function restoredEntries(kafka: Kafka, topic: string, label: string): Promise<[string, Buffer][]> {
  const dir = await temporaryDir(label);
  const stores = await Promise.all(Array.from({ length: PARTITIONS }, (_, partition) => PartitionStore.open({ baseDir: dir.path, partition })));
  try {
    await restoreFromChangelog({ kafka, topic, stores, groupPrefix: `${topic}.audit`, logger: createLogger('audit', 'error') });
    const entries: [string, Buffer][] = [];
    for (const store of stores) for await (const entry of store.entries({ gte: '\x01', lt: '\xff' })) entries.push(entry);
    return entries;
  } finally {
    for (const store of stores) await store.close();
    await dir.remove();
  }
}

/** Every key and value of the stores under a state directory (the service must be stopped). */
async function storeEntries(stateDir: string): Promise<[string, Buffer][]> {
  const entries: [string, Buffer][] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const store = await PartitionStore.open({ baseDir: stateDir, partition });
    try {
      for await (const entry of store.entries({ gte: '\x00', lt: '\xff' })) entries.push(entry);
    } finally {
      await store.close();
    }
  }
  return entries;
}

function mentions(entries: [string, Buffer | null][], recipientId: string): string[] {
  return entries.filter(([key, value]) => key.includes(recipientId) || (value?.includes(recipientId) ?? false)).map(([key]) => key);
}

describe('engine erasure on the real broker', () => {
  const common = stackConfig();
  const logger = createLogger('engine-erasure', 'error');
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const cleanups: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('removes counters, aggregates (all cohorts fed), pending sends and changelog state; later-consumed older records do not bring the recipient back', async () => {
    const topics = uniqueTopics('erasure');
    await createTestTopics(topics, PARTITIONS);
    const engineDir = await temporaryDir('erasure-engine');
    const delayDir = await temporaryDir('erasure-delay');
    cleanups.push(engineDir.remove, delayDir.remove);
    const partition = partitionOf(ERASED, PARTITIONS);
    // Neighbours on the erased recipient's partition share its aggregates; one is in its later cohort.
    const neighbours = Array.from({ length: 40 }, (_, i) => `neighbour-${i}`).filter((id) => partitionOf(id, PARTITIONS) === partition).slice(0, 2);
    const [carol, bob] = neighbours as [string, string];

    const now = Date.now();
    const event = (recipientId: string, i: number, timeZone: string | null, occurredAt: number): EngagementEvent => ({
      eventId: `${recipientId}-${i}`, recipientId, channel: 'EMAIL', eventType: i % 3 === 0 ? 'SEND' : 'OPEN', occurredAt, timeZone,
      campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
    });
    const history: EngagementEvent[] = [];
    for (let i = 0; i < 40; i++) {
      const at = now - (40 - i) * 13 * HOUR;
      history.push(event(ERASED, i, i < 20 ? null : 'Europe/Paris', at)); // default cohort first, then Paris
      history.push(event(carol, i, 'Europe/Paris', at + 600_000));
      history.push(event(bob, i, 'America/New_York', at + 1_200_000));
    }
    const trigger = (recipientId: string, triggerId: string, occurredAt: number): SendTrigger => ({
      triggerId, recipientId, campaignId: 'erasure-test', messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN', urgency: 'NORMAL', occurredAt,
      timeZone: null, windowHours: 24, sendAt: now + 2 * HOUR, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: 'OPEN', holdoutShare: null,
      payload: Buffer.from('hello'), attributes: {},
    });
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: history, key: (record) => record.recipientId });
    await produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: [trigger(ERASED, 'spring', now - HOUR), trigger(bob, 'spring', now - HOUR)], key: (record) => record.recipientId });

    const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env: { ...topicEnv(topics), ...engineEnv(topics, engineDir.path) }, adminPort: await freePort(), logPath: `${engineDir.path}.log` });
    const delay = new ChildService({
      name: 'delay', entry: ChildService.entry('delay'), adminPort: await freePort(), logPath: `${delayDir.path}.log`,
      env: { ...topicEnv(topics), STO_STATE_DIR: delayDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn' },
    });
    cleanups.push(() => engine.stop(), () => delay.stop());
    engine.start();
    delay.start();
    await Promise.all([engine.waitReady(90_000), delay.waitReady(90_000)]);
    const metric = (service: ChildService, name: string, labels: Record<string, string> = {}) => service.metric(name, labels);
    await waitFor('the engine applied the history and decided both triggers', async () => (await metric(engine, 'sto_engine_decisions_total')) >= 2 && (await metric(engine, 'sto_stream_records_total', { topic: topics.engagement })) >= history.length, 60_000);
    await waitFor('both sends pending in the delay service', async () => (await metric(delay, 'sto_delay_pending')) === 2, 60_000);

    const request: ErasureRequest = { requestId: 'erase-1', recipientId: ERASED, requestedAt: Date.now() };
    await produceRecords({ kafka, codec, topic: topics.erasure, contract: 'erasure', records: [request], key: (record) => record.recipientId });
    await waitFor('the engine applied the erasure', async () => (await metric(engine, 'sto_engine_erasures_total')) === 1, 60_000);
    // Records from before the erasure, consumed after it (a retry, a lagging producer).
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: [event(ERASED, 99, 'Europe/Paris', request.requestedAt - HOUR)], key: (record) => record.recipientId });
    await produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: [trigger(ERASED, 'late', request.requestedAt - 60_000)], key: (record) => record.recipientId });
    await waitFor('the late event counted as erased', async () => (await metric(engine, 'sto_engine_engagement_events_total', { outcome: 'erased' })) === 1, 60_000);
    await waitFor('the late trigger ignored', async () => (await metric(engine, 'sto_engine_triggers_ignored_total', { reason: 'erased' })) === 1, 60_000);
    await waitFor("the delay service dropped the erased recipient's pending send", async () => (await metric(delay, 'sto_delay_pending')) === 1, 60_000);
    expect(await metric(delay, 'sto_delay_cancelled_total', { cause: 'erasure' })).toBe(1);
    expect(await metric(engine, 'sto_engine_decisions_total')).toBe(2);
    await engine.stop();
    await delay.stop();

    // Counters and aggregates: as if the recipient had never been there (the oracle never saw them).
    const oracle = new EngineOracle(compileEngineConfig({ ...process.env, ...topicEnv(topics) }), PARTITIONS);
    for (const record of history.filter((candidate) => candidate.recipientId !== ERASED)) await oracle.applyEngagement(record, now);
    const expected: DumpLine[] = [];
    for (const store of await oracle.stores()) expected.push(...(await dumpStore(store)));
    const actual = await dumpEngineState(engineDir.path);
    expect(actual.find((line) => line.key.includes(ERASED))).toBeUndefined();
    expect(actual.map((line) => line.key).sort()).toEqual(expected.map((line) => line.key).sort());
    for (const want of expected) {
      const got = actual.find((line) => line.key === want.key)!;
      expect(got.events, want.key).toBe(want.events);
      expect(got.cells.map(([cell]) => cell), want.key).toEqual(want.cells.map(([cell]) => cell));
      // Sums on the 16-bit log grid depend on the rounding path: equal up to a few tenths of a percent per week.
      got.cells.forEach(([cell, value], index) => expect(Math.abs(value - want.cells[index]![1]) / want.cells[index]![1], `${want.key} ${cell}`).toBeLessThan(0.03));
    }
    expect(mentions(await storeEntries(engineDir.path), ERASED)).toEqual([]);
    expect(mentions(await storeEntries(delayDir.path), ERASED)).toEqual([]);

    // Changelogs: the recipient's keys end in tombstones, and a restore holds nothing of them.
    const engineLog = await readAll(kafka, topics.engineChangelog);
    const last = new Map(engineLog.map((record) => [record.key, record.value]));
    expect(engineLog.some((record) => record.key === `r:${ERASED}` && record.value !== null)).toBe(true);
    expect(last.get(`r:${ERASED}`)).toBeNull();
    expect(last.has('a:zone:UTC')).toBe(true);
    expect(last.get('a:zone:UTC')).toBeNull(); // the default cohort only the erased recipient fed
    expect(mentions(await restoredEntries(kafka, topics.engineChangelog, 'erasure-restore-engine'), ERASED)).toEqual([]);
    const delayLog = await readAll(kafka, topics.delayChangelog);
    expect(delayLog.some((record) => record.value?.includes(ERASED))).toBe(true);
    expect(mentions(await restoredEntries(kafka, topics.delayChangelog, 'erasure-restore-delay'), ERASED)).toEqual([]);
  });
});
