import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { ReadySend, ScheduledSend } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { produceRecords } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';

const SENDS = 10_000;

function scheduled(i: number, sendAt: number): ScheduledSend {
  return {
    scheduleId: `s-${i}`,
    action: 'SCHEDULE',
    triggerId: `t-${i}`,
    recipientId: `r-${i % 997}`,
    campaignId: 'burst',
    messageId: null,
    channel: 'EMAIL',
    sendAt,
    localSendTime: new Date(sendAt).toISOString(),
    timeZone: 'UTC',
    timeZoneSource: 'DEFAULT',
    reason: 'OPTIMIZED',
    propensity: 1,
    exploration: false,
    arm: 'TREATMENT',
    topSlots: [],
    evidence: { individual: 0, cohort: 0, global: 1 },
    bindingConstraint: 'NONE',
    modelVersion: 'test',
    historyEvents: 0,
    historyActiveDays: 0,
    triggeredAt: sendAt - 1_000,
    payload: Buffer.from(`p-${i}`),
  };
}

describe('delay service crash during a burst release', () => {
  const topics = uniqueTopics('delay');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('delay-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;

  beforeAll(async () => {
    await createTestTopics(topics, 4);
    stateDir = await temporaryDir('delay');
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: stateDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', STO_DELAY_RELEASE_BATCH: '200' },
      adminPort: 19_402,
      logPath: `${stateDir.path}.log`,
    });
  });

  afterAll(async () => {
    await delay?.stop();
    await stateDir?.remove();
  });

  it('releases every send at least once after a SIGKILL mid-burst, none early', async () => {
    delay.start();
    await delay.waitReady(90_000);
    const dueAt = Date.now() + 15_000;
    const sends = Array.from({ length: SENDS }, (_, i) => scheduled(i, dueAt + (i % 1_000)));
    await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: sends, key: (send) => send.recipientId });
    // Kill it while it releases the burst.
    const deadline = Date.now() + 60_000;
    while ((await delay.metric('sto_delay_releases_total')) < 500) {
      if (Date.now() > deadline) throw new Error('no release started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await delay.kill();
    delay.start();
    await delay.waitReady(90_000);

    const consumer = kafka.consumer({ groupId: `${topics.ready}.reader` });
    const seen = new Map<string, number>();
    const early: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: topics.ready, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const ready = await codec.decode<ReadySend>('ready', message.value);
        expect(message.headers?.['sto-schedule-id']?.toString()).toBe(ready.scheduleId);
        if (ready.releasedAt < ready.sendAt) early.push(ready.scheduleId);
        seen.set(ready.scheduleId, (seen.get(ready.scheduleId) ?? 0) + 1);
      },
    });
    const readDeadline = Date.now() + 90_000;
    while (seen.size < SENDS && Date.now() < readDeadline) await new Promise((resolve) => setTimeout(resolve, 250));
    await consumer.disconnect();
    const duplicates = [...seen.values()].filter((count) => count > 1).length;
    expect(seen.size).toBe(SENDS);
    expect(early).toEqual([]);
    expect(duplicates).toBeLessThan(SENDS);
    expect(await delay.metric('sto_delay_pending')).toBe(0);
  });
});
