import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { ReadySend, ScheduledSend } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaCodec, createSchemaRegistryClient } from '../../../services/shared/contracts/schema-codec.ts';
import { readSchemaJson, valueSubject } from '../../../services/shared/contracts/schema-files.ts';
import { ErrorCode, InputError, StoError } from '../../../services/shared/errors.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { ADDED_DEFAULT, ADDED_FIELD, withDefaultedField } from '../../support/schema-evolution.ts';
import { sampleEngagement, sampleTrigger } from '../../support/sample-records.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { freePort } from '../support/free-port.ts';
import { plainScheduledSend } from '../../support/sample-records.ts';
import { until } from '../support/wait.ts';

// Registry down mid-run: records of schema ids already resolved decode from the codec's cache;
// records of a new id wait (a retriable error, never a dead letter) until the registry is back.

const registryUrl = new URL(stackConfig().registry.url);


async function failure(promise: Promise<unknown>): Promise<StoError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  if (!(error instanceof StoError)) throw new Error(`expected a StoError, got ${String(error)}`);
  return error;
}

/** A new writer schema id for `scheduled` (the current schema plus a defaulted field), and its framing. */
async function newScheduledWriter(subject: string): Promise<{ id: number; encode: (send: ScheduledSend) => Buffer }> {
  const schema = withDefaultedField(readSchemaJson('scheduled') as unknown as avro.Schema);
  const { id } = await createSchemaRegistryClient(stackConfig().registry).register({ type: 'AVRO' as never, schema: JSON.stringify(schema) }, { subject });
  const type = avro.Type.forSchema(schema);
  return {
    id,
    encode: (send) => {
      const body = type.toBuffer({ ...send, [ADDED_FIELD]: ADDED_DEFAULT });
      const header = Buffer.alloc(5);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    },
  };
}

describe('registry down mid-run: the codec', () => {
  const topics = uniqueTopics('regmid');
  const proxy = new TcpProxy({ host: registryUrl.hostname, port: Number(registryUrl.port) });

  beforeAll(async () => {
    await createTestTopics(topics, 1);
    await proxy.start('forward');
  });

  afterAll(async () => {
    await proxy.close();
  });

  it('decodes known ids from cache while the registry refuses or stalls; a new id fails retriably, then resolves', async () => {
    const codec = createSchemaCodec({
      ...stackConfig().registry,
      url: `http://127.0.0.1:${proxy.port}${registryUrl.pathname}`,
      timeoutMs: 300,
      unknownIdGraceMs: 1_000,
    });
    const engagement = codec.encode(await codec.writer('engagement', valueSubject(topics.engagement)), sampleEngagement(1));
    const trigger = codec.encode(await codec.writer('trigger', valueSubject(topics.triggers)), sampleTrigger(1));
    expect(await codec.decode('engagement', engagement)).toEqual(sampleEngagement(1));

    for (const cut of ['refuse', 'silent'] as const) {
      await proxy[cut]();
      const started = Date.now();
      expect(await codec.decode('engagement', engagement)).toEqual(sampleEngagement(1));
      expect(Date.now() - started).toBeLessThan(100);
      const error = await failure(codec.decode('trigger', trigger));
      expect(error).not.toBeInstanceOf(InputError);
      expect(error.code).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
      expect(error.retriable).toBe(true);
    }
    await proxy.forward();
    expect(await codec.decode('trigger', trigger)).toEqual(sampleTrigger(1));
  });
});

function scheduled(id: string, sendAt: number): ScheduledSend {
  return plainScheduledSend({ scheduleId: id, triggerId: `t-${id}`, recipientId: `r-${id}`, campaignId: 'registry-midrun' }, sendAt, id);
}

describe('registry down mid-run: the delay service', () => {
  const topics = uniqueTopics('regmidsvc');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('registry-midrun', 'error'));
  const codec = createSchemaCodec(common.registry);
  const proxy = new TcpProxy({ host: registryUrl.hostname, port: Number(registryUrl.port) });
  const seen = new Map<string, ReadySend>();
  const deadLetters: string[] = [];
  const consumer = kafka.consumer({ groupId: `${topics.ready}.reader` });
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;

  beforeAll(async () => {
    await createTestTopics(topics, 1);
    await proxy.start('forward');
    stateDir = await temporaryDir('regmidsvc');
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: {
        ...topicEnv(topics),
        STO_SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}${registryUrl.pathname}`,
        STO_SCHEMA_REGISTRY_TIMEOUT_MS: '500',
        STO_STATE_DIR: stateDir.path,
        STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`,
        STO_LOG_LEVEL: 'warn',
      },
      adminPort: await freePort(),
      logPath: `${stateDir.path}.log`,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.ready, deadLetterTopic(topics.scheduled)], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.ready) {
          const send = await codec.decode<ReadySend>('ready', message.value);
          seen.set(send.scheduleId, send);
        } else {
          deadLetters.push(message.key?.toString() ?? '');
        }
      },
    });
  });

  afterAll(async () => {
    await consumer.disconnect();
    await delay?.stop();
    await proxy.close();
    await stateDir?.remove();
  });

  it('releases sends of a known schema id while the registry is cut; a new id waits, undead-lettered, until it is back', async () => {
    delay.start();
    await delay.waitReady(45_000);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const writer = await codec.writer('scheduled', valueSubject(topics.scheduled));
      const send = async (value: Buffer, key: string) => producer.send({ topic: topics.scheduled, messages: [{ key, value }] });
      await send(codec.encode(writer, scheduled('known-1', Date.now())), 'r-known-1');
      await until('the first send released', 30_000, async () => seen.has('known-1'));

      // Cut: the registry accepts connections and never answers.
      await proxy.silent();
      await send(codec.encode(writer, scheduled('known-2', Date.now())), 'r-known-2');
      await until('a send of the known schema id released while the registry is cut', 30_000, async () => seen.has('known-2'));

      const fresh = await newScheduledWriter(`registry-midrun-${topics.scheduled}-value`);
      expect(fresh.id).not.toBe(writer.schemaId);
      const connectionsBefore = proxy.connections;
      await send(fresh.encode(scheduled('new-id-1', Date.now())), 'r-new-id-1');
      // The service asks the (silent) registry for the new id: it waits instead of dead-lettering.
      await until('the delay service asking the registry for the new schema id', 30_000, async () => proxy.connections > connectionsBefore);
      // More than one client budget (6 attempts of 500 ms): at least one decode has failed in the service.
      await until('two budgets of registry attempts for the new id', 40_000, async () => {
        if (deadLetters.length > 0) throw new Error(`records were dead-lettered while the registry was cut: ${deadLetters.join(', ')}`);
        return proxy.connections >= connectionsBefore + 12;
      });
      expect(delay.running).toBe(true);
      expect(seen.has('new-id-1')).toBe(false);
      expect(deadLetters).toEqual([]);

      await proxy.forward();
      await until('the send of the new schema id released once the registry is back', 45_000, async () => seen.has('new-id-1'));
      expect(deadLetters).toEqual([]);
      expect(delay.running).toBe(true);
      const log = readFileSync(`${stateDir.path}.log`, 'utf8');
      expect(log).not.toMatch(/UNKNOWN_SCHEMA_ID/);
    } finally {
      await producer.disconnect();
    }
  });
});
