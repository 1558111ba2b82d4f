import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dueKey, idKey } from '../../../services/delay/pending-sends.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { DeadLetter, ReadySend, ScheduledSend } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { produceRecords } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { freePort } from '../support/free-port.ts';
import { plainScheduledSend } from '../../support/sample-records.ts';
import { waitFor } from '../support/wait.ts';

const SENDS = 50;

function scheduled(i: number, sendAt: number): ScheduledSend {
  return plainScheduledSend({ scheduleId: `s-${i}`, triggerId: `t-${i}`, recipientId: `r-${i}`, campaignId: 'quarantine' }, sendAt, `p-${i}`);
}


describe('delay service with an unreadable stored send', () => {
  const topics = uniqueTopics('quarantine');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('delay-quarantine-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;

  beforeAll(async () => {
    await createTestTopics(topics, 1);
    stateDir = await temporaryDir('delay-quarantine');
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: stateDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn' },
      adminPort: await freePort(),
      logPath: `${stateDir.path}.log`,
    });
  });

  afterAll(async () => {
    await delay?.stop();
    await stateDir?.remove();
  });

  it('quarantines it with its key and bytes and releases every other send', async () => {
    // The store is restored from its changelog: a corrupt value there is a corrupt stored value,
    // due before every other send, so each release pass meets it first.
    const corruptKey = dueKey(Date.now() - 60_000, 's-corrupt');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: topics.delayChangelog,
      messages: [
        { partition: 0, key: corruptKey, value: Buffer.from('{"scheduleId":"s-corrupt","sendAt":') },
        { partition: 0, key: idKey('s-corrupt'), value: Buffer.from(corruptKey) },
      ],
    });
    await producer.disconnect();
    delay.start();
    await delay.waitReady(90_000);
    const dueAt = Date.now() + 2_000;
    await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: Array.from({ length: SENDS }, (_, i) => scheduled(i, dueAt + i)), key: (send) => send.recipientId });

    const released = new Set<string>();
    const letters: DeadLetter[] = [];
    const consumer = kafka.consumer({ groupId: `${topics.ready}.reader` });
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.ready, deadLetterTopic(topics.scheduled)], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.ready) released.add((await codec.decode<ReadySend>('ready', message.value)).scheduleId);
        else letters.push(await codec.decode<DeadLetter>('deadLetter', message.value));
      },
    });
    try {
      await waitFor(() => released.size === SENDS && letters.length === 1, 60_000, `${SENDS} releases and one dead letter (have ${released.size} and ${letters.length})`);
    } finally {
      await consumer.disconnect();
    }
    expect(letters[0]).toMatchObject({ sourceTopic: topics.delayChangelog, errorCode: 'CORRUPT_STATE', service: 'delay' });
    expect(letters[0]!.key?.toString()).toBe(corruptKey);
    expect(letters[0]!.value?.toString()).toBe('{"scheduleId":"s-corrupt","sendAt":');
    expect(await delay.metric('sto_delay_quarantined_total')).toBe(1);
    // The gauge follows the store's commit, which comes after the releases are produced: wait for it.
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === 0, 30_000, 'sto_delay_pending back to 0 after the last release commits');
  });
});
