import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import { stableUnitInterval } from '../../../services/model/hash.ts';
import type { Decision } from '../../../services/model/decision-types.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { DeadLetter, EngagementEvent, ReadySend, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { EngineOracle, engineEnv, produceRecords, readTopic } from '../support/engine-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';

const PARTITIONS = 4;
const RECIPIENTS = 2_000;
const WITH_HISTORY = 1_800;
const DAYS = 12;
const ZONES = ['America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney', '+05:45', 'America/Los_Angeles'];
const DAY_MS = 86_400_000;

function history(now: number): EngagementEvent[] {
  const events: EngagementEvent[] = [];
  for (let day = DAYS; day >= 1; day--) {
    for (let r = 0; r < WITH_HISTORY; r++) {
      const zone = ZONES[r % ZONES.length]!;
      const habitHour = 6 + Math.floor(stableUnitInterval([`habit:${r}`]) * 16);
      // A rough local instant: habit hour in the zone's standard offset is good enough here.
      const base = Math.floor((now - day * DAY_MS) / DAY_MS) * DAY_MS + habitHour * 3_600_000 - (r % ZONES.length) * 3_600_000;
      const common = { recipientId: `r-${r}`, channel: 'EMAIL' as const, timeZone: zone, campaignId: 'history', messageId: `m-${r}-${day}`, userAgent: null, attributes: {} };
      events.push({ ...common, eventId: `send-${r}-${day}`, eventType: 'SEND', occurredAt: base - 3_600_000, machineOpen: null, deliveredAt: null });
      if (r % 10 === 0) {
        events.push({ ...common, eventId: `mpp-${r}-${day}`, eventType: 'OPEN', occurredAt: base - 3_599_000, machineOpen: null, deliveredAt: base - 3_600_000 });
      }
      if (stableUnitInterval([`active:${r}:${day}`]) < 0.8) {
        events.push({ ...common, eventId: `open-${r}-${day}`, eventType: 'OPEN', occurredAt: base + (r % 50) * 60_000, machineOpen: false, deliveredAt: null });
      }
    }
  }
  // Duplicates of some events (upstream retries): they must be ignored.
  return [...events, ...duplicatesOf(events)];
}

function duplicatesOf(events: EngagementEvent[]): EngagementEvent[] {
  // Upstream retries: copies of recent events (inside the 48 h dedup window of event time).
  return events.slice(-3_000).filter((_, index) => index % 7 === 0);
}

function triggers(now: number): SendTrigger[] {
  return Array.from({ length: RECIPIENTS }, (_, r): SendTrigger => {
    const base: SendTrigger = {
      triggerId: `t-${r}`,
      recipientId: `r-${r}`,
      campaignId: r % 3 === 0 ? 'spring-holdout' : 'spring',
      messageId: `spring-${r}`,
      channel: r % 7 === 0 ? 'PUSH' : 'EMAIL',
      triggerKind: 'CAMPAIGN',
      urgency: 'NORMAL',
      occurredAt: now,
      timeZone: r % 4 === 0 ? ZONES[r % ZONES.length]! : null,
      windowHours: 24,
      sendAt: null,
      quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 },
      quietHoursPolicy: null,
      defaultLocalMinute: 10 * 60,
      objective: r % 5 === 0 ? 'CLICK' : 'OPEN',
      holdoutShare: r % 3 === 0 ? 0.2 : null,
      payload: Buffer.from(`payload-${r}`),
      attributes: {},
    };
    if (r % 50 === 1) return { ...base, channel: 'SMS', urgency: 'URGENT', triggerKind: 'CART_RECOVERY', quietHours: { startMinute: 22 * 60, endMinute: 7 * 60 } };
    if (r % 50 === 2) return { ...base, sendAt: now + 3 * 3_600_000 };
    if (r % 50 === 3) return { ...base, timeZone: 'Mars/Olympus_Mons' };
    return base;
  });
}

describe('engine: from engagement history and triggers to scheduled sends', () => {
  const topics = uniqueTopics('engine');
  const common = { ...stackConfig(), topics };
  const logger = createLogger('engine-test', 'error');
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  let engine: ChildService;
  let stateDir: { path: string; remove: () => Promise<void> };
  let env: Record<string, string>;

  beforeAll(async () => {
    await createTestTopics(topics, PARTITIONS);
    stateDir = await temporaryDir('engine');
    // Priors published every second: decisions wait for them below (the oracle pools every partition at once).
    env = { ...topicEnv(topics), ...engineEnv(topics, stateDir.path, { STO_ENGINE_PRIORS_PUBLISH_SECONDS: '1' }) };
    engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env, adminPort: await freePort(), logPath: `${stateDir.path}.log` });
    engine.start();
    await engine.waitReady(90_000);
  });

  afterAll(async () => {
    await engine?.stop();
    await stateDir?.remove();
  });

  it('decides every trigger exactly as the pure functions do, with reasons, and dead-letters the invalid ones', async () => {
    const now = Date.now();
    const events = history(now);
    const config = compileEngineConfig({ ...process.env, ...env });
    const oracle = new EngineOracle(config, PARTITIONS);
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: events, key: (event) => event.recipientId });
    for (const event of events) await oracle.applyEngagement(event, now);
    const deadline = Date.now() + 120_000;
    while ((await engine.metric('sto_stream_records_total', { topic: topics.engagement })) < events.length) {
      if (Date.now() > deadline) throw new Error('engine did not consume the history');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Decisions read the priors every partition published: wait until the population prior read back holds every applied event.
    const applied = await engine.metric('sto_engine_engagement_events_total', { outcome: 'applied' });
    while ((await engine.metric('sto_engine_population_prior', { measure: 'events' })) !== applied) {
      if (Date.now() > deadline) throw new Error(`the engine's population prior does not pool the ${applied} applied events`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const originals = new Set(events.map((event) => event.eventId)).size;
    expect(await engine.metric('sto_engine_engagement_events_total', { outcome: 'duplicate' })).toBe(events.length - originals);
    expect(await engine.metric('sto_engine_engagement_events_total', { signal: 'machine_open' })).toBeGreaterThan(0);

    const sent = triggers(Date.now());
    const expected = new Map<string, Decision | string>();
    for (const trigger of sent) expected.set(trigger.triggerId, await oracle.decide(trigger));
    await produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: sent, key: (trigger) => trigger.recipientId });

    const decisions = [...expected.values()].filter((value): value is Decision => typeof value !== 'string');
    const invalid = [...expected.values()].filter((value) => typeof value === 'string');
    const urgentNow = decisions.filter((decision, index) => decision.urgentBypass && decision.sendAtMs <= sent[index]!.occurredAt);
    // Read the three outputs at once: a shortfall on one costs one timeout, not the sum of three.
    const [scheduled, ready, letters] = await Promise.all([
      readTopic<ScheduledSend>({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', count: decisions.length - urgentNow.length, timeoutMs: 90_000 }),
      readTopic<ReadySend>({ kafka, codec, topic: topics.ready, contract: 'ready', count: urgentNow.length, timeoutMs: 90_000 }),
      readTopic<DeadLetter>({ kafka, codec, topic: deadLetterTopic(topics.triggers), contract: 'deadLetter', count: invalid.length, timeoutMs: 90_000 }),
    ]);

    expect(letters).toHaveLength(invalid.length);
    expect(letters.every((letter) => letter.value.errorCode === 'INVALID_FIELD' && letter.value.reason.includes('Mars/Olympus_Mons'))).toBe(true);
    expect(scheduled.length + ready.length).toBe(decisions.length);

    const byTrigger = new Map<string, { sendAt: number; reason: string; scheduleId: string; propensity: number; binding?: string; zone: string; arm?: string; top?: number[] }>();
    for (const { value, headers } of scheduled) {
      expect(headers['sto-schedule-id']).toBe(value.scheduleId);
      byTrigger.set(value.triggerId, {
        sendAt: value.sendAt,
        reason: value.reason,
        scheduleId: value.scheduleId,
        propensity: value.propensity,
        binding: value.bindingConstraint,
        zone: value.timeZone,
        arm: value.arm,
        top: value.topSlots.map((slot) => slot.sendAt),
      });
    }
    for (const { value } of ready) byTrigger.set(value.triggerId, { sendAt: value.sendAt, reason: value.reason, scheduleId: value.scheduleId, propensity: 1, zone: value.timeZone });
    for (const trigger of sent) {
      const decision = expected.get(trigger.triggerId)!;
      if (typeof decision === 'string') continue;
      const actual = byTrigger.get(trigger.triggerId);
      const isReady = ready.some((record) => record.value.triggerId === trigger.triggerId);
      expect(actual, trigger.triggerId).toEqual({
        sendAt: decision.sendAtMs,
        reason: decision.reason,
        scheduleId: decision.scheduleId,
        propensity: isReady ? 1 : decision.propensity,
        zone: decision.timeZone,
        ...(isReady ? {} : { binding: decision.bindingConstraint, arm: decision.arm, top: decision.topSlots.map((slot) => slot.sendAtMs) }),
      });
    }
    const reasons = new Set([...byTrigger.values()].map((value) => value.reason));
    for (const reason of ['OPTIMIZED', 'FALLBACK_THIN_HISTORY', 'CONTROL', 'EXPLICIT_SEND_AT', 'URGENT_BYPASS', 'EXPLORATION']) expect(reasons, reason).toContain(reason);
    expect([...byTrigger.values()].every((value) => value.sendAt >= now)).toBe(true);
  }, 300_000);
});
