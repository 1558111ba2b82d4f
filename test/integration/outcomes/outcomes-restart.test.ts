import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { CampaignReport } from '../../../services/outcomes/campaign-report.ts';
import type { EngagementEvent, ScheduledSend, SendOutcome } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { sampleScheduled } from '../../support/sample-records.ts';
import { freePort } from '../support/free-port.ts';
import { engagementFor, produceAs, readyOf } from '../support/outcomes-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { until, waitFor } from '../support/wait.ts';

const SECOND = 1_000;
const WINDOW_S = 60;
const SENDS = 300;

describe('the outcomes stage after a SIGKILL with its local state lost: restored from the changelog, nothing lost, nothing counted twice', () => {
  const topics = uniqueTopics('outcomes-restart');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('outcomes-restart-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `${topics.outcomes}.reader` });
  const outcomes = new Map<string, SendOutcome>();
  const tombstones = new Set<string>();
  let stateDir: { path: string; remove: () => Promise<void> };
  let service: ChildService;

  beforeAll(async () => {
    await createTestTopics(topics, 2);
    stateDir = await temporaryDir('outcomes-restart');
    service = new ChildService({
      name: 'outcomes',
      entry: ChildService.entry('outcomes'),
      env: {
        ...topicEnv(topics),
        STO_STATE_DIR: stateDir.path,
        STO_INSTANCE_ID: 'outcomes-restart-1',
        STO_OUTCOMES_GROUP_ID: `${topics.outcomes}.stage`,
        STO_LOG_LEVEL: 'warn',
        STO_KAFKA_SESSION_TIMEOUT_MS: '6000',
        STO_OUTCOMES_CONVERSION_WINDOW_HOURS: String(WINDOW_S / 3_600),
        STO_OUTCOMES_LATE_GRACE_MINUTES: String(10 / 60),
      },
      adminPort: await freePort(),
      logPath: `${stateDir.path}.log`,
    });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: topics.outcomes, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value === null) {
          tombstones.add(String(message.key));
          return;
        }
        const outcome = await codec.decode<SendOutcome>('outcome', message.value);
        outcomes.set(outcome.scheduleId, outcome);
      },
    });
  });

  afterAll(async () => {
    await consumer.disconnect();
    await producer.disconnect();
    await service?.stop();
    await stateDir?.remove();
  });

  it('keeps the sends, their events and the applied event ids across the crash', async () => {
    service.start();
    await service.waitReady(120_000);
    const now = Date.now();
    const sends: ScheduledSend[] = Array.from({ length: SENDS }, (_, i) => ({
      ...sampleScheduled(i, `rr-${i}`),
      action: 'SCHEDULE',
      scheduleId: `rs-${i}`,
      campaignId: 'restart',
      channel: 'EMAIL',
      sendAt: now,
      triggeredAt: now - 60_000,
      arm: i % 4 === 0 ? 'CONTROL' : 'TREATMENT',
      reason: i % 4 === 0 ? 'CONTROL' : 'OPTIMIZED',
    }));
    await produceAs(producer, codec, 'scheduled', topics.scheduled, sends);
    await produceAs(producer, codec, 'ready', topics.ready, sends.map((send) => readyOf(send, now)));
    await waitFor(async () => (await service.metric('sto_outcomes_send_records_total', { source: 'ready' })) >= SENDS, 60_000, 'the stage to apply every release');

    const deliveredAt = Date.now();
    const before: EngagementEvent[] = [];
    const after: EngagementEvent[] = [];
    sends.forEach((send, i) => {
      before.push(engagementFor(send, `${send.scheduleId}:delivery`, 'DELIVERY', deliveredAt));
      const open = engagementFor(send, `${send.scheduleId}:open`, 'OPEN', deliveredAt + 15 * SECOND, { userAgent: 'Mozilla/5.0' });
      if (i % 2 === 0) before.push(open);
      else if (i % 3 === 0) after.push(open);
      if (i % 5 === 0) after.push(engagementFor(send, `${send.scheduleId}:click`, 'CLICK', deliveredAt + 20 * SECOND));
    });
    await produceAs(producer, codec, 'engagement', topics.engagement, before);
    await waitFor(async () => (await service.metric('sto_outcomes_events_total', { outcome: 'schedule_id' })) >= before.length, 30_000, `the stage to apply the ${before.length} events before the crash`);

    // SIGKILL and the local stores gone: the restarted stage has only the changelog to restore from.
    await service.kill();
    await rm(stateDir.path, { recursive: true, force: true });
    service.start();
    await service.waitReady(60_000);
    expect(Date.now() - deliveredAt, 'the restart took longer than the windows: the test machine is too slow for this test').toBeLessThan(WINDOW_S * SECOND);

    // The rest of the events, and the events before the crash once more (a sender's retry).
    await produceAs(producer, codec, 'engagement', topics.engagement, [...after, ...before]);
    await waitFor(() => outcomes.size >= SENDS, (WINDOW_S + 60) * SECOND, () => `an outcome for each of the ${SENDS} sends (${outcomes.size} so far; log ${stateDir.path}.log)`);

    sends.forEach((send, i) => {
      const outcome = outcomes.get(send.scheduleId)!;
      expect(outcome.deliveredAt, send.scheduleId).toBe(deliveredAt);
      expect(outcome.firstOpenAt !== null, `${send.scheduleId} opened`).toBe(i % 2 === 0 || i % 3 === 0);
      expect(outcome.firstClickAt !== null, `${send.scheduleId} clicked`).toBe(i % 5 === 0);
    });
    // The replayed events were recognised by the restored event ids, not applied again.
    expect(await service.metric('sto_outcomes_events_total', { outcome: 'duplicate' })).toBe(before.length);
    const report = await until('the campaign report', 30_000, async () => {
      const response = await fetch(`http://127.0.0.1:${service.adminPort}/campaigns/restart/report`);
      if (response.status !== 200) return null;
      const channel = ((await response.json()) as { channels: CampaignReport[] }).channels[0]!;
      return channel.rates.open.treatment.sends + channel.rates.open.control.sends === SENDS ? channel : null;
    });
    const opened = sends.filter((_, i) => i % 2 === 0 || i % 3 === 0);
    const treatmentOpened = opened.filter((send) => send.arm === 'TREATMENT').length;
    expect(report.rates.open.treatment.rate * report.rates.open.treatment.sends).toBeCloseTo(treatmentOpened, 6);

    // Erasure after the close, on the restored state: each erased recipient's outcome gets a
    // tombstone on the compacted topic, and nobody else's does.
    const erased = sends.filter((_, i) => i % 30 === 7);
    await produceAs(producer, codec, 'erasure', topics.erasure, erased.map((send, i) => ({ requestId: `erase-${i}`, recipientId: send.recipientId, requestedAt: Date.now() })));
    await waitFor(() => erased.every((send) => tombstones.has(send.scheduleId)), 60_000, () => `a tombstone for each of the ${erased.length} erased recipients' outcomes (${tombstones.size} so far)`);
    await waitFor(async () => (await service.metric('sto_outcomes_send_records_total', { source: 'erased_outcome' })) >= erased.length, 30_000, 'the stage to count the erased outcomes');
    expect([...tombstones].sort()).toEqual(erased.map((send) => send.scheduleId).sort());
  }, 300_000);
});
