import { describe, expect, it } from 'vitest';
import { decodePartialPrior, encodePartialPrior, parsePriorRecordKey, PriorSums, priorRecordKey } from '../../../services/engine/prior-sums.ts';
import { aggregateParams, ENGINE_KEYS } from '../../../services/engine/recipient-state.ts';
import { applyEngagement, emptyProfile, type Profile } from '../../../services/model/profile.ts';
import type { EngagementEvent, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { EngineHarness } from '../../support/engine-harness.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 11, 1, 6);
const BERLIN = ENGINE_KEYS.cohort('Europe/Berlin');

/** `days` daily human opens at `utcHour`, oldest first, ending two days before NOW. */
function habit(recipientId: string, utcHour: number, timeZone: string, days = 10): EngagementEvent[] {
  return Array.from({ length: days }, (_, day): EngagementEvent => {
    const occurredAt = Math.floor(NOW / DAY) * DAY - (days + 1 - day) * DAY + utcHour * HOUR;
    return {
      eventId: `${recipientId}-${day}`, recipientId, channel: 'EMAIL', eventType: 'OPEN', occurredAt, timeZone,
      campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
    };
  });
}

function trigger(recipientId: string, timeZone: string): SendTrigger {
  return {
    triggerId: `t-${recipientId}-${timeZone}`, recipientId, campaignId: 'c', messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN', urgency: 'NORMAL', occurredAt: NOW,
    timeZone, windowHours: 24, sendAt: null, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: 'OPEN', holdoutShare: 0,
    payload: Buffer.alloc(0), attributes: {},
  };
}

async function feed(harness: EngineHarness, events: EngagementEvent[]): Promise<void> {
  await harness.handle(harness.config.common.topics.engagement, events.map((value) => ({ key: value.recipientId, value: harness.encode('engagement', value), timestamp: NOW })));
}

async function decideFor(harness: EngineHarness, recipientId: string, timeZone: string): Promise<ScheduledSend> {
  const { outputs } = await harness.handle(harness.config.common.topics.triggers, [{ key: recipientId, value: harness.encode('trigger', trigger(recipientId, timeZone)), timestamp: NOW }]);
  expect(outputs).toHaveLength(1);
  return harness.codec.decode<ScheduledSend>('scheduled', outputs[0]!.message.value as Buffer);
}

/** Berlin recipients whose habit is 20:00 local (19:00 UTC in winter). */
function berliners(from: number, to: number): EngagementEvent[] {
  const events: EngagementEvent[] = [];
  for (let i = from; i < to; i++) events.push(...habit(`berlin-${i}`, 19, 'Europe/Berlin'));
  return events;
}

describe('priors and k-anonymity', () => {
  it('a cohort pooling fewer than STO_ENGINE_PRIOR_MIN_RECIPIENTS recipients is not used: neither the top slots nor the evidence weights show it', async () => {
    const alone = await EngineHarness.create();
    const withoutPriors = await decideFor(alone, 'newcomer', 'Europe/Berlin');

    const harness = await EngineHarness.create();
    expect(harness.config.priorMinRecipients).toBe(20);
    await feed(harness, berliners(0, 19));
    expect(harness.priors.get(BERLIN)?.recipients).toBe(19);
    const below = await decideFor(harness, 'newcomer', 'Europe/Berlin');
    expect(below.evidence.cohort).toBe(0);
    // What the newcomer is shown is exactly what they would be shown with nobody else around.
    expect(below.topSlots).toEqual(withoutPriors.topSlots);
    expect(below.evidence).toEqual(withoutPriors.evidence);
    expect(await harness.metric('sto_engine_priors_withheld_total', { level: 'cohort' })).toBe(1);
    expect(await harness.metric('sto_engine_priors_withheld_total', { level: 'population' })).toBe(1);

    await feed(harness, berliners(19, 20));
    expect(harness.priors.get(BERLIN)?.recipients).toBe(20);
    const atK = await decideFor(harness, 'newcomer', 'Europe/Berlin');
    expect(atK.evidence.cohort).toBeGreaterThan(0);
    // Now the cohort speaks: the best slot is the hour before its 20:00 habit (a send's arrival
    // window covers the next two hours), 19:00 in Berlin, 18:00 UTC.
    expect(new Date(atK.topSlots[0]!.sendAt).getUTCHours()).toBe(18);
  });

  it('a cohort below k falls back to the population, and a population below k to none', async () => {
    const harness = await EngineHarness.create({ STO_ENGINE_PRIOR_MIN_RECIPIENTS: '20' });
    const tokyo: EngagementEvent[] = [];
    for (let i = 0; i < 3; i++) tokyo.push(...habit(`tokyo-${i}`, 22, 'Asia/Tokyo')); // 07:00 in Tokyo
    await feed(harness, tokyo);
    const none = await decideFor(harness, 'newcomer', 'Asia/Tokyo');
    expect(none.evidence.cohort).toBe(0);
    // No prior at all: every slot scores the same (a flat distribution, nobody's habit).
    expect(new Set(none.topSlots.map((slot) => slot.score)).size).toBe(1);

    await feed(harness, berliners(0, 20));
    expect(harness.priors.get(ENGINE_KEYS.global)?.recipients).toBe(23);
    const population = await decideFor(harness, 'newcomer', 'Asia/Tokyo');
    expect(population.evidence.cohort).toBe(0);
    expect(population.evidence.global).toBeGreaterThan(0);
    // Slots are local: the population's habit is mostly 20:00 local (Berlin's), not the three
    // Tokyo recipients' 07:00, so the newcomer in Tokyo is offered 19:00 Tokyo time (10:00 UTC).
    expect(new Date(population.topSlots[0]!.sendAt).getUTCHours()).toBe(10);
    expect(population.topSlots).not.toEqual(none.topSlots);
  });

  it('counts a recipient once per cohort they fed and once in the population, and gives them back on erasure (a tombstone for an emptied aggregate)', async () => {
    const harness = await EngineHarness.create();
    const paris = ENGINE_KEYS.cohort('Europe/Paris');
    const moving = [...habit('mover', 8, 'Europe/Paris', 3), ...habit('mover', 9, 'America/New_York', 2).map((event) => ({ ...event, eventId: `ny-${event.eventId}`, occurredAt: event.occurredAt + DAY / 2 }))];
    moving.sort((a, b) => a.occurredAt - b.occurredAt);
    await feed(harness, [...moving, ...habit('stayer', 8, 'Europe/Paris', 3)]);
    // Duplicates change nothing.
    await feed(harness, habit('stayer', 8, 'Europe/Paris', 3));
    expect(harness.priors.get(paris)?.recipients).toBe(2);
    expect(harness.priors.get(ENGINE_KEYS.cohort('America/New_York'))?.recipients).toBe(1);
    expect(harness.priors.get(ENGINE_KEYS.global)?.recipients).toBe(2);
    expect(harness.published.every(({ key }) => parsePriorRecordKey(key).partition === 0)).toBe(true);

    const request = { requestId: 'q1', recipientId: 'mover', requestedAt: NOW };
    await harness.handle(harness.config.common.topics.erasure, [{ key: 'mover', value: harness.encode('erasure', request), timestamp: NOW }]);
    expect(harness.priors.get(paris)?.recipients).toBe(1);
    expect(harness.priors.get(ENGINE_KEYS.cohort('America/New_York'))).toBeNull();
    expect(harness.priors.get(ENGINE_KEYS.global)?.recipients).toBe(1);
    expect(harness.published.at(-1)).toBeDefined();
    expect(harness.published.filter(({ value }) => value === null).map(({ key }) => key)).toEqual([priorRecordKey(0, ENGINE_KEYS.cohort('America/New_York'))]);
  });

  it('publishes again what a pass that failed to commit emitted, and nothing when nothing changed', async () => {
    const harness = await EngineHarness.create();
    harness.autoPublish = false;
    await feed(harness, berliners(0, 2));
    await harness.publishPriors({ commits: false });
    expect(harness.published).toEqual([]);
    await harness.publishPriors();
    expect(harness.published.map(({ key }) => key).sort()).toEqual([priorRecordKey(0, ENGINE_KEYS.global), priorRecordKey(0, BERLIN)]);
    expect(harness.priors.get(BERLIN)?.recipients).toBe(2);
    await harness.publishPriors();
    expect(harness.published).toHaveLength(2);
    expect(await harness.metric('sto_engine_priors_published_total', { kind: 'partial' })).toBe(2);
  });

  it('after the partition opens again, publishes only what the priors topic lacks', async () => {
    const harness = await EngineHarness.create();
    await feed(harness, berliners(0, 2));
    expect(harness.published).toHaveLength(2);
    harness.handler.onClose(0);
    await harness.handler.onOpen(harness.store);
    await harness.publishPriors();
    expect(harness.published).toHaveLength(2);
    // The topic lost the cohort's value (say it was never published before a crash): only it goes out.
    harness.topicDigests.delete(priorRecordKey(0, BERLIN));
    harness.handler.onClose(0);
    await harness.handler.onOpen(harness.store);
    await harness.publishPriors();
    expect(harness.published.map(({ key }) => key).slice(2)).toEqual([priorRecordKey(0, BERLIN)]);
    // Then changes are published as usual.
    await feed(harness, berliners(2, 3));
    expect(harness.published.map(({ key }) => key).slice(3).sort()).toEqual([priorRecordKey(0, ENGINE_KEYS.global), priorRecordKey(0, BERLIN)]);
  });

  it('rebuilds the recipient counts of a store written before they were kept, from its recipient records', async () => {
    const harness = await EngineHarness.create();
    await feed(harness, berliners(0, 3));
    // The store as an older engine left it: aggregates, no counts.
    await harness.deleteRaw([ENGINE_KEYS.recipients(BERLIN), ENGINE_KEYS.recipients(ENGINE_KEYS.global)]);
    harness.handler.onClose(0);
    await harness.handler.onOpen(harness.store);
    await feed(harness, berliners(3, 4));
    expect(harness.priors.get(BERLIN)?.recipients).toBe(4);
    expect(harness.priors.get(ENGINE_KEYS.global)?.recipients).toBe(4);
  });

  it('sums partials of every partition in partition order, and forgets a partition on its tombstone', () => {
    const params = aggregateParams({ halfLifeDays: 365 });
    const partial = (hour: number, events: number): Profile => {
      const profile = emptyProfile();
      for (let i = 0; i < events; i++) applyEngagement(profile, { slot: hour, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: NOW - i * DAY, localDay: 100 - i, firstOfDay: true }, params);
      return profile;
    };
    const sums = new PriorSums(params);
    const record = (partition: number, hour: number, events: number, recipients: number) =>
      sums.setRecord(priorRecordKey(partition, BERLIN), decodePartialPrior(encodePartialPrior({ profile: partial(hour, events), recipients })));
    record(2, 10, 3, 4);
    record(0, 11, 5, 6);
    record(5, 10, 2, 1);
    const sum = sums.get(BERLIN)!;
    expect(sum.recipients).toBe(11);
    expect(sum.profile.events).toBe(10);
    const first = sums.get(BERLIN);
    expect(sums.get(BERLIN)).toBe(first); // summed once per change
    sums.setRecord(priorRecordKey(0, BERLIN), null);
    expect(sums.get(BERLIN)!.recipients).toBe(5);
    expect(sums.get(ENGINE_KEYS.global)).toBeNull();
    expect(() => parsePriorRecordKey('x|a:global')).toThrow(/not a priors key/);
    expect(() => parsePriorRecordKey('3|r:alice')).toThrow(/not a priors key/);
    expect(() => decodePartialPrior(Buffer.from([9, 0, 0, 0, 1, 2]))).toThrow(/version/);
  });
});
