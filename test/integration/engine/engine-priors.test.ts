import { afterAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { EngagementEvent, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import type { TopicsConfig } from '../../../services/shared/config/common-config.ts';
import { engineEnv, partitionOf, produceRecords, readTopic } from '../support/engine-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ZONE = 'Europe/Berlin';
/** Habits (UTC hour of the daily open) of the cohort, unevenly spread so each partition's share of it differs from the whole. */
const HABITS = [19, 19, 19, 7, 7, 12];
const COHORT = 60;
const DAYS = 8;

/** `days` daily human opens at `utcHour`, oldest first, ending a day before `now`. */
function opens(recipientId: string, utcHours: number[], now: number, timeZone: string | null): EngagementEvent[] {
  const today = Math.floor(now / DAY) * DAY;
  return utcHours.map((hour, index): EngagementEvent => ({
    eventId: `${recipientId}-${index}`, recipientId, channel: 'EMAIL', eventType: 'OPEN', occurredAt: today - (utcHours.length - index) * DAY + hour * HOUR + 600_000,
    timeZone, campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
  }));
}

function history(now: number): EngagementEvent[] {
  const events: EngagementEvent[] = [];
  for (let r = 0; r < COHORT; r++) events.push(...opens(`cohort-${r}`, Array.from({ length: DAYS }, () => HABITS[r % HABITS.length]!), now, ZONE));
  // Recipients of their own with a short history (3 active days, scattered hours): the priors decide much of their choice.
  for (let t = 0; t < 6; t++) events.push(...opens(`target-${t}`, [9 + t, 14 - t, 21 - t], now, ZONE));
  return events;
}

function triggers(now: number): SendTrigger[] {
  const ids = [...Array.from({ length: 6 }, (_, t) => `target-${t}`), 'newcomer'];
  return ids.map((recipientId, index) => ({
    triggerId: `priors-${recipientId}`, recipientId, campaignId: 'c', messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN', urgency: 'NORMAL', occurredAt: now,
    // Half name the zone on the trigger, half leave it to the zone learned from the history.
    timeZone: index % 2 === 0 || recipientId === 'newcomer' ? ZONE : null, windowHours: 24, sendAt: null, quietHours: { startMinute: 22 * 60, endMinute: 6 * 60 },
    quietHoursPolicy: null, defaultLocalMinute: null, objective: 'OPEN', holdoutShare: 0, payload: Buffer.alloc(0), attributes: {},
  }));
}

interface Seen {
  sendAt: number;
  reason: string;
  top: number[];
  evidence: { individual: number; cohort: number; global: number };
}

describe('engine: priors pooled over every partition', () => {
  const logger = createLogger('engine-priors-test', 'error');
  const common = stackConfig();
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const cleanups: (() => Promise<unknown>)[] = [];
  const now = Math.floor(Date.now() / HOUR) * HOUR;
  const events = history(now);
  const sent = triggers(now);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function startEngine(topics: TopicsConfig, stateDir: string, label: string): Promise<ChildService> {
    const env = { ...topicEnv(topics), ...engineEnv(topics, stateDir, { STO_ENGINE_PRIORS_PUBLISH_SECONDS: '1' }) };
    const engine = new ChildService({ name: `engine-${label}`, entry: ChildService.entry('engine'), env, adminPort: await freePort(), logPath: `${stateDir}.log` });
    engine.start();
    cleanups.push(() => engine.stop());
    await engine.waitReady(90_000);
    return engine;
  }

  /** Bounded wait until the engine reads, from the priors topic, a population prior of every recipient and event. */
  async function waitForPriors(engine: ChildService, label: string): Promise<void> {
    const recipients = new Set(events.map((event) => event.recipientId)).size;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const [read, pooled] = [await engine.metric('sto_engine_population_prior', { measure: 'events' }), await engine.metric('sto_engine_population_prior', { measure: 'recipients' })];
      if (read === events.length && pooled === recipients) return;
      if (Date.now() > deadline) throw new Error(`${label}: the population prior read back pools ${pooled} recipients and ${read} events after 120 s, not ${recipients} and ${events.length}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async function decisions(topics: TopicsConfig, expected: number): Promise<Map<string, Seen>> {
    const records = await readTopic<ScheduledSend>({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', count: expected, timeoutMs: 90_000 });
    const seen = new Map<string, Seen>();
    const times = new Map<string, number>();
    for (const { value } of records) {
      // Keyed by trigger id and how many times it was decided (#1, #2 after a restart).
      times.set(value.triggerId, (times.get(value.triggerId) ?? 0) + 1);
      seen.set(`${value.triggerId}#${times.get(value.triggerId)}`, { sendAt: value.sendAt, reason: value.reason, top: value.topSlots.map((slot) => slot.sendAt), evidence: value.evidence });
    }
    return seen;
  }

  const runs = new Map<number, Map<string, Seen>>();
  let six: { topics: TopicsConfig; stateDir: string; engine: ChildService } | null = null;

  it.each([1, 3, 6])('decides with %i partition(s)', async (partitions) => {
    const topics = uniqueTopics(`priors-${partitions}`);
    await createTestTopics(topics, partitions);
    const stateDir = await temporaryDir(`engine-priors-${partitions}`);
    cleanups.push(stateDir.remove);
    const engine = await startEngine(topics, stateDir.path, String(partitions));
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: events, key: (event) => event.recipientId });
    await waitForPriors(engine, `${partitions} partition(s)`);
    await produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: sent, key: (trigger) => trigger.recipientId });
    const seen = await decisions(topics, sent.length);
    expect(seen.size).toBe(sent.length);
    runs.set(partitions, seen);
    if (partitions === 6) six = { topics, stateDir: stateDir.path, engine };
    else await engine.stop();
  }, 300_000);

  it('gives the same decisions (slot, reason, top slots, evidence weights) whatever the partition count', () => {
    const one = runs.get(1)!;
    expect(one.size).toBe(sent.length);
    // The six partitions split the cohort unevenly: without global priors each target would see its partition's share.
    expect(new Set(sent.map((trigger) => partitionOf(trigger.recipientId, 6))).size).toBeGreaterThan(1);
    // Every difference, listed (an empty list passes): slot, reason and top slots exactly; evidence
    // weights to 4 decimals (partials are summed on the profile's 16-bit log grid, 0.07% steps).
    const differences: string[] = [];
    for (const partitions of [3, 6]) {
      const other = runs.get(partitions)!;
      for (const [trigger, expected] of one) {
        const actual = other.get(trigger);
        if (!actual) {
          differences.push(`${trigger} with ${partitions} partitions: not decided`);
          continue;
        }
        if (actual.sendAt !== expected.sendAt) differences.push(`${trigger} with ${partitions} partitions: sendAt ${new Date(actual.sendAt).toISOString()}, not ${new Date(expected.sendAt).toISOString()}`);
        if (actual.reason !== expected.reason) differences.push(`${trigger} with ${partitions} partitions: reason ${actual.reason}, not ${expected.reason}`);
        if (actual.top.join() !== expected.top.join()) differences.push(`${trigger} with ${partitions} partitions: top slots ${actual.top.map((at) => new Date(at).toISOString().slice(11, 13)).join(' ')}, not ${expected.top.map((at) => new Date(at).toISOString().slice(11, 13)).join(' ')}`);
        for (const level of ['individual', 'cohort', 'global'] as const) {
          if (Math.abs(actual.evidence[level] - expected.evidence[level]) >= 5e-5) differences.push(`${trigger} with ${partitions} partitions: ${level} weight ${actual.evidence[level].toFixed(4)}, not ${expected.evidence[level].toFixed(4)}`);
        }
      }
    }
    expect(differences).toEqual([]);
    // The cohort prior (60 recipients, k = 20) spoke in these decisions.
    expect([...one.values()].some((seen) => seen.evidence.cohort > 0)).toBe(true);
  });

  it('decides the same after a restart: the priors table is read again from the topic, nothing republished', async () => {
    expect(six).not.toBeNull();
    const { topics, stateDir, engine } = six!;
    await engine.stop();
    const restarted = await startEngine(topics, stateDir, '6-restarted');
    // Loaded before the engine was ready, from what the partitions published before the restart.
    await waitForPriors(restarted, 'after the restart');
    await produceRecords({ kafka, codec, topic: topics.triggers, contract: 'trigger', records: sent, key: (trigger) => trigger.recipientId });
    const seen = await decisions(topics, 2 * sent.length);
    const before = runs.get(6)!;
    for (const trigger of sent) {
      const first = before.get(`${trigger.triggerId}#1`)!;
      const again = seen.get(`${trigger.triggerId}#2`);
      expect(again, trigger.triggerId).toBeDefined();
      expect({ sendAt: again!.sendAt, reason: again!.reason, top: again!.top }).toEqual({ sendAt: first.sendAt, reason: first.reason, top: first.top });
      for (const level of ['individual', 'cohort', 'global'] as const) expect(again!.evidence[level]).toBeCloseTo(first.evidence[level], 6);
    }
    // Nothing was published again (the topic held every partition's aggregates as they are): the
    // priors these decisions used are the table read back at start-up.
    expect(await restarted.metric('sto_engine_priors_published_total')).toBe(0);
  }, 300_000);
});
