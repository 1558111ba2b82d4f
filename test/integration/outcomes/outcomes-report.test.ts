import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { CampaignReport } from '../../../services/outcomes/campaign-report.ts';
import type { DeadLetter, EngagementEvent, ScheduledSend, SendOutcome } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import type { ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import { sampleScheduled } from '../../support/sample-records.ts';
import { freePort } from '../support/free-port.ts';
import { engagementFor, produceAs, readyOf } from '../support/outcomes-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { until, waitFor } from '../support/wait.ts';

const SECOND = 1_000;
const WINDOW_S = 30;
const GRACE_S = 20;
const RECIPIENTS = 4_000;
/** Local send hours 8..19: the campaign's default time is 08:00, the optimizer's favourite 17:00. */
const SLOTS = 12;
const FIRST_HOUR = 8;
const GREEDY = 9;
const EXPLORATION = 0.3;
const HOLDOUT = 0.2;
const openRate = (slot: number) => 0.1 + 0.025 * slot;
const CLICK_GIVEN_OPEN = 0.5;
const CONVERSION_GIVEN_CLICK = 0.4;
const execFileAsync = promisify(execFile);

interface PlannedSend {
  send: ScheduledSend;
  slot: number;
  /** What only the simulation knows: the chance this recipient opens at this slot. */
  trueOpen: number;
}

/** A population with known habits, decided by an epsilon-greedy logging policy with a holdout at the default time. */
function population(now: number): PlannedSend[] {
  const rng = new SeededRandom(['outcomes-population']);
  return Array.from({ length: RECIPIENTS }, (_, i) => {
    const control = rng.chance(HOLDOUT);
    const explore = !control && rng.chance(EXPLORATION);
    const slot = control ? 0 : explore ? rng.below(SLOTS) : GREEDY;
    const propensity = control ? 1 : EXPLORATION / SLOTS + (1 - EXPLORATION) * (slot === GREEDY ? 1 : 0);
    const hour = String(FIRST_HOUR + slot).padStart(2, '0');
    const send: ScheduledSend = {
      ...sampleScheduled(i, `pop-${i}`),
      scheduleId: `pop-${i}`,
      campaignId: 'pop',
      messageId: `m-pop-${i}`,
      channel: 'EMAIL',
      action: 'SCHEDULE',
      sendAt: now,
      triggeredAt: now - 3_600_000,
      localSendTime: `2026-03-02T${hour}:00:00.000+00:00`,
      timeZone: 'UTC',
      arm: control ? 'CONTROL' : 'TREATMENT',
      reason: control ? 'CONTROL' : explore ? 'EXPLORATION' : 'OPTIMIZED',
      exploration: explore,
      propensity,
      bindingConstraint: control ? 'DEFAULT_TIME' : 'NONE',
    };
    return { send, slot, trueOpen: openRate(slot) };
  });
}

/** What each send's recipient does: delivery, a machine open for some, human open, click, conversion, drawn from the known habits. */
function responses(planned: PlannedSend[], deliveredAt: number): EngagementEvent[] {
  const rng = new SeededRandom(['outcomes-responses', 2]);
  const events: EngagementEvent[] = [];
  for (const { send, trueOpen } of planned) {
    const id = send.scheduleId;
    events.push(engagementFor(send, `${id}:delivery`, 'DELIVERY', deliveredAt));
    // A proxy prefetch on delivery must not count as an open (nor may a person's open later than the machine-open seconds count as one).
    if (rng.chance(0.2)) events.push(engagementFor(send, `${id}:mpp`, 'OPEN', deliveredAt + 2 * SECOND, { deliveredAt }));
    if (!rng.chance(trueOpen)) continue;
    // Some senders only know the message id: attributed by it.
    const ids = rng.chance(0.3) ? { scheduleId: null, messageId: send.messageId } : {};
    events.push(engagementFor(send, `${id}:open`, 'OPEN', deliveredAt + 12 * SECOND, { ...ids, userAgent: 'Mozilla/5.0' }));
    if (!rng.chance(CLICK_GIVEN_OPEN)) continue;
    events.push(engagementFor(send, `${id}:click`, 'CLICK', deliveredAt + 13 * SECOND, ids));
    if (rng.chance(CONVERSION_GIVEN_CLICK)) events.push(engagementFor(send, `${id}:buy`, 'CONVERSION', deliveredAt + 15 * SECOND, { value: 20, currency: 'EUR' }));
  }
  return events;
}

describe('the outcomes stage on the real broker: attribution, windows from delivery, the campaign report and off-policy estimates', () => {
  const topics = uniqueTopics('outcomes');
  const common = { ...stackConfig(), topics };
  const kafka: Kafka = createKafka(common.kafka, createLogger('outcomes-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const outcomes = new Map<string, SendOutcome>();
  const deadLetters: DeadLetter[] = [];
  const consumer = kafka.consumer({ groupId: `${topics.outcomes}.reader` });
  let stateDir: { path: string; remove: () => Promise<void> };
  let service: ChildService;
  let planned: PlannedSend[];
  let env: Record<string, string>;

  const produce = <T extends { recipientId: string }>(contract: ContractName, topic: string, records: T[]) => produceAs(producer, codec, contract, topic, records);

  async function report(campaignId: string): Promise<CampaignReport> {
    return until(`the report of campaign ${campaignId} over HTTP`, 30_000, async () => {
      const response = await fetch(`http://127.0.0.1:${service.adminPort}/campaigns/${campaignId}/report`);
      if (response.status !== 200) return null;
      return ((await response.json()) as { channels: CampaignReport[] }).channels[0]!;
    });
  }

  beforeAll(async () => {
    await createTestTopics(topics, 2);
    stateDir = await temporaryDir('outcomes');
    env = {
      ...topicEnv(topics),
      STO_STATE_DIR: stateDir.path,
      STO_OUTCOMES_GROUP_ID: `${topics.outcomes}.stage`,
      STO_LOG_LEVEL: 'warn',
      STO_OUTCOMES_CONVERSION_WINDOW_HOURS: String(WINDOW_S / 3_600),
      STO_OUTCOMES_LATE_GRACE_MINUTES: String(GRACE_S / 60),
      STO_OUTCOMES_MIN_EXPLORATION_SENDS: '30',
      STO_OUTCOMES_SEQUENTIAL_TUNED_SENDS: '4000',
    };
    service = new ChildService({ name: 'outcomes', entry: ChildService.entry('outcomes'), env, adminPort: await freePort(), logPath: `${stateDir.path}.log` });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.outcomes, deadLetterTopic(topics.engagement)], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.outcomes) {
          const outcome = await codec.decode<SendOutcome>('outcome', message.value);
          outcomes.set(outcome.scheduleId, outcome);
        } else deadLetters.push(await codec.decode<DeadLetter>('deadLetter', message.value));
      },
    });
    service.start();
    await service.waitReady(120_000);
  }, 180_000);

  afterAll(async () => {
    await consumer.disconnect();
    await producer.disconnect();
    await service?.stop();
    await stateDir?.remove();
  });

  it('attributes a simulated population\'s events, counts windows from delivery, rejects bad events, ignores replays, and reports lift and off-policy estimates that match the truth', async () => {
    const now = Date.now();
    planned = population(now);
    // A send released now but delivered 25 s later: its window runs from the delivery.
    const late: ScheduledSend = { ...planned[0]!.send, scheduleId: 'late-1', recipientId: 'late-r', messageId: null, campaignId: 'late', triggeredAt: now - 1_000 };
    // A send for the bad events.
    const bad: ScheduledSend = { ...planned[1]!.send, scheduleId: 'bad-1', recipientId: 'bad-r', messageId: null, campaignId: 'bad' };
    const sends = [...planned.map((p) => p.send), late, bad];
    await produce('scheduled', topics.scheduled, sends);
    await produce('ready', topics.ready, sends.map((send) => readyOf(send, now)));
    // Engagement comes after the release (as it does from a real sender): wait until the stage holds every send.
    await waitFor(async () => (await service.metric('sto_outcomes_send_records_total', { source: 'ready' })) >= sends.length, 60_000, 'the outcomes stage to apply every release');

    const deliveredAt = Date.now();
    const population_events = responses(planned, deliveredAt);
    const lateDelivery = deliveredAt + 25 * SECOND;
    const lateEvents = [
      engagementFor(late, 'late:delivery', 'DELIVERY', lateDelivery),
      // 50 s after the release, 25 s after delivery: outside a window counted from release, inside one from delivery.
      engagementFor(late, 'late:buy', 'CONVERSION', lateDelivery + 25 * SECOND, { value: 40, currency: 'EUR' }),
      engagementFor(late, 'late:buy-after', 'CONVERSION', lateDelivery + (WINDOW_S + 5) * SECOND, { value: 1_000, currency: 'EUR' }),
    ];
    const badEvents = [
      engagementFor(bad, 'bad:delivery', 'DELIVERY', deliveredAt),
      engagementFor(bad, 'bad:unknown', 'OPEN', deliveredAt + SECOND, { scheduleId: 'no-such-send' }),
      engagementFor(bad, 'bad:no-currency', 'CONVERSION', deliveredAt + SECOND, { value: 10 }),
      engagementFor(bad, 'bad:negative', 'CONVERSION', deliveredAt + SECOND, { value: -5, currency: 'EUR' }),
      engagementFor(bad, 'bad:before', 'CLICK', now - 60 * SECOND),
      engagementFor(bad, 'bad:good', 'CONVERSION', deliveredAt + 2 * SECOND, { value: 7, currency: 'EUR' }),
    ];
    const allEvents = [...population_events, ...lateEvents, ...badEvents];
    await produce('engagement', topics.engagement, allEvents);
    // The same events again (a sender's retry, a replayed topic): nothing may change.
    await produce('engagement', topics.engagement, allEvents);

    await waitFor(() => outcomes.size >= sends.length, (WINDOW_S + GRACE_S + 25 + 60) * SECOND, () => `an outcome for each of the ${sends.length} sends (${outcomes.size} so far)`);

    // The late delivery kept its full window: the conversion 50 s after release counts, the one past delivery + window does not.
    expect(outcomes.get('late-1')).toMatchObject({ status: 'DELIVERED', deliveredAt: lateDelivery, windowEndsAt: lateDelivery + WINDOW_S * SECOND, conversions: 1, value: 40, currency: 'EUR' });

    // Bad events: dead-lettered with the reason or ignored by the rule, never counted; replays are duplicates.
    expect(outcomes.get('bad-1')).toMatchObject({ conversions: 1, value: 7, firstClickAt: null });
    await waitFor(() => deadLetters.filter((letter) => letter.service === 'outcomes').length >= 4, 30_000, 'the dead letters of the bad conversions (each sent twice)');
    const reasons = deadLetters.filter((letter) => letter.service === 'outcomes').map((letter) => letter.reason);
    expect(reasons.filter((reason) => /no currency/.test(reason))).toHaveLength(2);
    expect(reasons.filter((reason) => /negative/.test(reason))).toHaveLength(2);
    expect(await service.metric('sto_outcomes_events_total', { outcome: 'unknown_send' })).toBe(2);
    expect(await service.metric('sto_outcomes_events_total', { outcome: 'before_send' })).toBe(2);
    const applied = allEvents.length - 4; // all but the unknown, the two malformed and the early event
    expect(await service.metric('sto_outcomes_events_total', { outcome: 'duplicate' })).toBe(applied);
    const byMessage = await service.metric('sto_outcomes_events_total', { outcome: 'message_id' });
    expect(byMessage).toBeGreaterThan(100);
    expect(byMessage + (await service.metric('sto_outcomes_events_total', { outcome: 'schedule_id' }))).toBe(applied);

    // The population's outcomes are exactly what the simulation drew (no event lost, none counted twice).
    const drawnOpens = new Set(population_events.filter((e) => e.eventType === 'OPEN' && e.userAgent).map((e) => e.recipientId));
    const reportedOpens = planned.filter((p) => outcomes.get(p.send.scheduleId)!.firstOpenAt !== null).map((p) => p.send.recipientId);
    expect(reportedOpens.length).toBe(drawnOpens.size);

    const pop = await report('pop');
    const truth = (arm: 'TREATMENT' | 'CONTROL') => {
      const members = planned.filter((p) => p.send.arm === arm);
      return members.reduce((sum, p) => sum + p.trueOpen, 0) / members.length;
    };
    const open = pop.rates.open;
    expect(open.treatment.sends + open.control.sends).toBe(RECIPIENTS);
    // Each arm's measured rate covers its true rate; the difference's interval covers the true lift.
    for (const arm of ['treatment', 'control'] as const) {
      const measured = open[arm];
      const trueRate = truth(arm === 'treatment' ? 'TREATMENT' : 'CONTROL');
      expect(trueRate, `${arm} open rate ${measured.rate} [${measured.low}, ${measured.high}]`).toBeGreaterThanOrEqual(measured.low);
      expect(trueRate).toBeLessThanOrEqual(measured.high);
    }
    const trueLift = truth('TREATMENT') - truth('CONTROL');
    expect(open.difference!.low).toBeLessThanOrEqual(trueLift);
    expect(open.difference!.high).toBeGreaterThanOrEqual(trueLift);
    // The always-valid interval is wider than the one-look interval and also covers it.
    expect(open.sequential!.low).toBeLessThan(open.difference!.low);
    expect(open.sequential!.low).toBeLessThanOrEqual(trueLift);
    expect(open.sequential!.high).toBeGreaterThanOrEqual(trueLift);
    expect(pop.revenuePerRecipient.EUR!.treatment.rate).toBeGreaterThan(0);
    expect(pop.localSendHours.CONTROL![FIRST_HOUR]).toBe(open.control.sends);
    expect(pop.sendsByArmAndReason['TREATMENT/EXPLORATION']).toBe(planned.filter((p) => p.send.reason === 'EXPLORATION').length);

    // The off-policy estimate of "everyone at the default time" matches what the holdout measured, within the intervals.
    expect(pop.defaultLocalHour).toBe(FIRST_HOUR);
    const atDefault = pop.offPolicy.find((e) => e.policy === 'default-time' && e.metric === 'open')!;
    expect(atDefault.explorationSends).toBe(planned.filter((p) => p.send.exploration && p.slot === 0).length);
    const estimate = atDefault.estimate!;
    const holdoutHalf = (open.control.high - open.control.low) / 2;
    const combined = Math.hypot((estimate.high - estimate.low) / 2, holdoutHalf);
    expect(Math.abs(estimate.estimate - open.control.rate), `off-policy ${JSON.stringify(estimate)} vs holdout ${open.control.rate}`).toBeLessThanOrEqual(combined);
    expect(estimate.low).toBeLessThanOrEqual(openRate(0));
    expect(estimate.high).toBeGreaterThanOrEqual(openRate(0));
    const optimizer = pop.offPolicy.find((e) => e.policy === 'optimizer' && e.metric === 'open')!.estimate!;
    expect(optimizer.low).toBeLessThanOrEqual(openRate(GREEDY));
    expect(optimizer.high).toBeGreaterThanOrEqual(openRate(GREEDY));

    // The report command prints the same JSON the admin server serves.
    const { stdout } = await execFileAsync(process.execPath, ['services/outcomes/report-main.ts', '--campaign', 'pop', '--json'], { env: { ...process.env, ...env }, timeout: 120_000 });
    expect(JSON.parse(stdout).channels[0]).toEqual(pop);
  }, 400_000);
});
