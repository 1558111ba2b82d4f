import type { Consumer, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommonConfig, TopicsConfig } from '../../../services/shared/config/common-config.ts';
import type { EngagementEvent, ReadySend, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { SchemaCodec, createSchemaRegistryClient, type Writer } from '../../../services/shared/contracts/schema-codec.ts';
import { CONTRACTS, valueSubject, type ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { recipientIds, sampleEngagement, sampleReady, sampleScheduled, sampleTrigger } from '../../support/sample-records.ts';
import { createTestTopics, stackConfig, uniqueTopics } from '../support/stack.ts';
import { SCHEMA_DIR, ensurePythonPeer, runPeer, toPeerJson } from './python-peer.ts';

// An independent client (Confluent's Python client: librdkafka + fastavro, from PyPI) reads what
// our SchemaCodec writes and writes what it reads, through the same registry, and puts every
// recipient on the same partition as kafkajs.

const PARTITIONS = 6;
const RECIPIENTS = recipientIds(200);
const logger = createLogger('interop-test', 'warn');

interface Delivered {
  key: string;
  partition: number;
  offset: number;
}
interface ProduceAnswer {
  schemaId: number;
  delivered: Delivered[];
}
interface ConsumeAnswer {
  records: (Delivered & { schemaId: number; value: Record<string, unknown> })[];
}
interface ConsumedRecord {
  topic: string;
  key: string;
  partition: number;
  value: Buffer;
}

let common: CommonConfig;
let topics: TopicsConfig;
let kafka: Kafka;
let producer: Producer;
let codec: SchemaCodec;
const writers = new Map<ContractName, Writer>();

beforeAll(async () => {
  const started = Date.now();
  await ensurePythonPeer();
  const versions = await runPeer<Record<string, string>>('versions');
  console.log(`interop: Python peer ready in ${((Date.now() - started) / 1_000).toFixed(1)} s (${JSON.stringify(versions)})`);

  common = stackConfig();
  topics = uniqueTopics('interop');
  await createTestTopics(topics, PARTITIONS);
  kafka = createKafka(common.kafka, logger);
  producer = kafka.producer();
  await producer.connect();
  codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const subjects: Record<ContractName, string> = {
    engagement: valueSubject(topics.engagement),
    trigger: valueSubject(topics.triggers),
    scheduled: valueSubject(topics.scheduled),
    ready: valueSubject(topics.ready),
    erasure: valueSubject(topics.erasure),
    deadLetter: valueSubject(`${topics.engagement}.dlq`),
    unreleased: valueSubject(topics.unreleased),
    campaignSettings: valueSubject(topics.campaignSettings),
    campaignStop: valueSubject(topics.campaignStops),
    outcome: valueSubject(topics.outcomes),
  };
  for (const contract of ['engagement', 'trigger', 'scheduled', 'ready'] as const) writers.set(contract, await codec.writer(contract, subjects[contract]));
});

afterAll(async () => {
  await producer?.disconnect();
});

function writer(contract: ContractName): Writer {
  const found = writers.get(contract);
  if (!found) throw new Error(`no writer for ${contract}`);
  return found;
}

function peerConnection(): { bootstrap: string; registry: string } {
  return { bootstrap: common.kafka.brokers.join(','), registry: common.registry.url };
}

/** Reads `count` records from the start of `topicNames` with kafkajs. */
async function consumeWithKafkajs(topicNames: string[], count: number, timeoutMs = 60_000): Promise<ConsumedRecord[]> {
  const consumer: Consumer = kafka.consumer({ groupId: `sto-interop-test-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  const records: ConsumedRecord[] = [];
  await consumer.connect();
  try {
    for (const topic of topicNames) await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kafkajs read ${records.length} of ${count} records from ${topicNames.join(', ')}`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ topic, partition, message }) => {
            records.push({ topic, partition, key: message.key?.toString('utf8') ?? '', value: message.value ?? Buffer.alloc(0) });
            if (records.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Field-by-field comparison, so a mismatch names the record and the field. */
function expectSameFields(actual: Record<string, unknown>, expected: Record<string, unknown>, label: string): void {
  expect(Object.keys(actual).sort(), `${label}: field names`).toEqual(Object.keys(expected).sort());
  for (const field of Object.keys(expected)) expect(actual[field], `${label}.${field}`).toEqual(expected[field]);
}

describe('interop with an independent client (Python confluent-kafka + fastavro)', () => {
  it('Python writes engagement events and triggers that our SchemaCodec decodes', async () => {
    const events = RECIPIENTS.map((recipientId, i) => ({ ...sampleEngagement(i, recipientId), eventId: `py-${i}` }));
    const triggers = RECIPIENTS.slice(0, 24).map((recipientId, i) => sampleTrigger(i, recipientId));
    const producedEvents = await runPeer<ProduceAnswer>('produce', {
      ...peerConnection(),
      topic: topics.engagement,
      schemaFile: SCHEMA_DIR + CONTRACTS.engagement.file,
      records: events.map((value) => ({ key: value.recipientId, value: toPeerJson(value) })),
    });
    const producedTriggers = await runPeer<ProduceAnswer>('produce', {
      ...peerConnection(),
      topic: topics.triggers,
      schemaFile: SCHEMA_DIR + CONTRACTS.trigger.file,
      records: triggers.map((value) => ({ key: value.recipientId, value: toPeerJson(value) })),
    });
    // Python found the ids the bootstrap registered (it registers nothing itself).
    expect(producedEvents.schemaId).toBe(writer('engagement').schemaId);
    expect(producedTriggers.schemaId).toBe(writer('trigger').schemaId);
    expect(producedEvents.delivered).toHaveLength(events.length);

    const consumed = await consumeWithKafkajs([topics.engagement, topics.triggers], events.length + triggers.length);
    const decodedEvents = new Map<string, EngagementEvent>();
    const decodedTriggers = new Map<string, SendTrigger>();
    for (const record of consumed) {
      expect(record.value.readUInt8(0)).toBe(0);
      if (record.topic === topics.engagement) {
        const event = await codec.decode<EngagementEvent>('engagement', record.value);
        expect(record.key).toBe(event.recipientId);
        decodedEvents.set(event.eventId, event);
      } else {
        const trigger = await codec.decode<SendTrigger>('trigger', record.value);
        expect(record.key).toBe(trigger.recipientId);
        decodedTriggers.set(trigger.triggerId, trigger);
      }
    }
    for (const event of events) expectSameFields({ ...decodedEvents.get(event.eventId) }, { ...event }, event.eventId);
    for (const trigger of triggers) expectSameFields({ ...decodedTriggers.get(trigger.triggerId) }, { ...trigger }, trigger.triggerId);

    // The partition Python's delivery report gave is where kafkajs found the record.
    const reported = new Map(producedEvents.delivered.map((delivery) => [delivery.key, delivery.partition]));
    for (const record of consumed.filter((candidate) => candidate.topic === topics.engagement)) {
      expect(record.partition, record.key).toBe(reported.get(record.key));
    }
  });

  it('Python reads the scheduled and ready sends our encoder wrote', async () => {
    const scheduled = RECIPIENTS.map((recipientId, i) => sampleScheduled(i, recipientId));
    const ready = RECIPIENTS.slice(0, 24).map((recipientId, i) => sampleReady(i, recipientId));
    await producer.send({
      topic: topics.scheduled,
      messages: scheduled.map((value) => ({ key: value.recipientId, value: codec.encode(writer('scheduled'), value) })),
    });
    await producer.send({
      topic: topics.ready,
      messages: ready.map((value) => ({ key: value.recipientId, value: codec.encode(writer('ready'), value), headers: { 'sto-channel': value.channel } })),
    });

    const readScheduled = await runPeer<ConsumeAnswer>('consume', { ...peerConnection(), topic: topics.scheduled, count: scheduled.length, timeoutSeconds: 60 });
    const readReady = await runPeer<ConsumeAnswer>('consume', { ...peerConnection(), topic: topics.ready, count: ready.length, timeoutSeconds: 60 });
    expect(readScheduled.records).toHaveLength(scheduled.length);
    expect(readReady.records).toHaveLength(ready.length);

    const byScheduleId = new Map(readScheduled.records.map((record) => [String(record.value.scheduleId), record]));
    for (const value of scheduled) {
      const record = byScheduleId.get(value.scheduleId);
      expect(record, value.scheduleId).toBeDefined();
      expect(record?.schemaId).toBe(writer('scheduled').schemaId);
      expect(record?.key).toBe(value.recipientId);
      expectSameFields(record?.value ?? {}, toPeerJson(value) as Record<string, unknown>, value.scheduleId);
    }
    const readyById = new Map(readReady.records.map((record) => [String(record.value.scheduleId), record]));
    for (const value of ready) {
      const record = readyById.get(value.scheduleId);
      expect(record?.schemaId).toBe(writer('ready').schemaId);
      expect(record?.key).toBe(value.recipientId);
      expectSameFields(record?.value ?? {}, toPeerJson(value) as Record<string, unknown>, `ready ${value.scheduleId}`);
    }
  });

  it('puts each of 200 recipients on the same partition from both clients (murmur2 on the UTF-8 key)', async () => {
    const label = 'keys';
    const fromPython = RECIPIENTS.map((recipientId, i) => ({ ...sampleEngagement(i, recipientId), eventId: `${label}-py-${i}` }));
    const fromKafkajs = RECIPIENTS.map((recipientId, i) => ({ ...sampleEngagement(i, recipientId), eventId: `${label}-ts-${i}` }));
    const keyTopics = uniqueTopics('interop-keys');
    await createTestTopics(keyTopics, PARTITIONS);
    const keyWriter = await codec.writer('engagement', valueSubject(keyTopics.engagement));

    const python = await runPeer<ProduceAnswer>('produce', {
      ...peerConnection(),
      topic: keyTopics.engagement,
      schemaFile: SCHEMA_DIR + CONTRACTS.engagement.file,
      records: fromPython.map((value) => ({ key: value.recipientId, value: toPeerJson(value) })),
    });
    // kafkajs' default partitioner, as the services use it (no explicit partition).
    await producer.send({
      topic: keyTopics.engagement,
      messages: fromKafkajs.map((value) => ({ key: value.recipientId, value: codec.encode(keyWriter, value) })),
    });

    const consumed = await consumeWithKafkajs([keyTopics.engagement], fromPython.length + fromKafkajs.length);
    const partitionOf = { py: new Map<string, number>(), ts: new Map<string, number>() };
    for (const record of consumed) {
      const event = await codec.decode<EngagementEvent>('engagement', record.value);
      partitionOf[event.eventId.startsWith(`${label}-py-`) ? 'py' : 'ts'].set(record.key, record.partition);
    }
    expect(partitionOf.py.size).toBe(RECIPIENTS.length);
    expect(partitionOf.ts.size).toBe(RECIPIENTS.length);
    const mismatches = RECIPIENTS.filter((recipientId) => partitionOf.py.get(recipientId) !== partitionOf.ts.get(recipientId));
    expect(mismatches).toEqual([]);
    for (const delivery of python.delivered) expect(delivery.partition, delivery.key).toBe(partitionOf.py.get(delivery.key));
    // Not a trivial agreement: the keys spread over every partition.
    expect(new Set(partitionOf.ts.values()).size).toBe(PARTITIONS);
  });
});
