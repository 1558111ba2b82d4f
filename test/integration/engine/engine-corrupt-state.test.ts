import { afterAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { dumpEngineState } from '../../../services/engine/state-dump.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { DeadLetter, EngagementEvent } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { engineEnv, partitionOf, produceRecords, readTopic } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { freePort } from '../support/free-port.ts';

const PARTITIONS = 2;

describe('engine: a corrupt value in a state store', () => {
  const common = stackConfig();
  const logger = createLogger('engine-corrupt-state', 'error');
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const cleanups: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('restored from the changelog is quarantined to the dead-letter topic and the partition moves on', async () => {
    const topics = uniqueTopics('corrupt');
    await createTestTopics(topics, PARTITIONS);
    const dir = await temporaryDir('engine-corrupt');
    cleanups.push(dir.remove);
    const partition = partitionOf('alice', PARTITIONS);
    const neighbour = ['bob', 'carol', 'dave', 'erin', 'frank'].find((id) => partitionOf(id, PARTITIONS) === partition)!;

    // The store is written through its changelog: a new instance restores the garbage into it.
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0xde, 0xad]);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: topics.engineChangelog, messages: [{ key: 'r:alice', value: garbage, partition }] });
    await producer.disconnect();

    const now = Date.now();
    const event = (recipientId: string): EngagementEvent => ({
      eventId: `${recipientId}-1`, recipientId, channel: 'EMAIL', eventType: 'OPEN', occurredAt: now - 60_000, timeZone: 'Europe/Paris',
      campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
    });
    // Alice's event meets the corrupt value first; the neighbour's comes after it in the same partition.
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: [event('alice'), event(neighbour)], key: (record) => record.recipientId });

    const env = { ...topicEnv(topics), ...engineEnv(topics, dir.path) };
    const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env, adminPort: await freePort(), logPath: `${dir.path}.log` });
    cleanups.push(() => engine.stop());
    engine.start();
    await engine.waitReady(90_000);
    const deadline = Date.now() + 60_000;
    // NaN (no answer) is not progress.
    while (!((await engine.metric('sto_stream_records_total', { topic: topics.engagement, outcome: 'applied' })) >= 2)) {
      if (!engine.running || Date.now() > deadline) throw new Error(`the engine did not get past the corrupt stored value within 60 s (running: ${engine.running}; log: ${dir.path}.log)`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await engine.metric('sto_engine_corrupt_state_total', { kind: 'recipient' })).toBe(1);
    await engine.stop();

    const letters = await readTopic<DeadLetter>({ kafka, codec, topic: deadLetterTopic(topics.engagement), contract: 'deadLetter', count: 1, timeoutMs: 30_000 });
    expect(letters).toHaveLength(1);
    const letter = letters[0]!.value;
    expect(letter).toMatchObject({ sourceTopic: topics.engineChangelog, sourcePartition: partition, errorCode: 'CORRUPT_STATE', service: 'engine' });
    expect(letter.key?.toString()).toBe('r:alice');
    expect(letter.value).toEqual(garbage);

    const state = await dumpEngineState(dir.path);
    expect(state.find((line) => line.key === 'r:alice')?.events).toBe(1);
    expect(state.find((line) => line.key === `r:${neighbour}`)?.events).toBe(1);
  });
});
