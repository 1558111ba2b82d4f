import { describe, expect, it } from 'vitest';
import { ERASURE_KEYS } from '../../../services/engine/erasure-marker.ts';
import { decodeRecipient } from '../../../services/engine/recipient-record.ts';
import { ENGINE_KEYS } from '../../../services/engine/recipient-state.ts';
import { decodeProfile, type Profile } from '../../../services/model/profile.ts';
import type { EngagementEvent, ErasureRequest, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { EngineHarness } from '../../support/engine-harness.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 2, 8);
const ERASED_AT = T0 + 30 * 24 * HOUR;

function event(recipientId: string, i: number, timeZone: string | null, occurredAt = T0 + i * 7 * HOUR): EngagementEvent {
  return {
    eventId: `${recipientId}-${i}-${occurredAt}`, recipientId, channel: 'EMAIL', eventType: i % 3 === 0 ? 'SEND' : 'OPEN', occurredAt, timeZone,
    campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
  };
}

function trigger(recipientId: string, occurredAt: number): SendTrigger {
  return {
    triggerId: `t-${occurredAt}`, recipientId, campaignId: 'c', messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN', urgency: 'NORMAL', occurredAt,
    timeZone: null, windowHours: 24, sendAt: null, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: 'OPEN', holdoutShare: null,
    payload: Buffer.alloc(0), attributes: {},
  };
}

/** Alice's zone becomes known half-way (default cohort first, then Paris); Carol shares Paris; Bob is in New York. */
const ZONE_KNOWN_LATER = (i: number) => (i < 30 ? null : 'Europe/Paris');
/** Alice moves: default cohort, Paris, New York (Bob's cohort), back to Paris. */
const MOVING = (i: number) => (i < 15 ? null : i < 30 ? 'Europe/Paris' : i < 45 ? 'America/New_York' : 'Europe/Paris');

function history(withAlice: boolean, aliceZone: (i: number) => string | null = ZONE_KNOWN_LATER): EngagementEvent[] {
  const events: EngagementEvent[] = [];
  for (let i = 0; i < 60; i++) {
    if (withAlice) events.push(event('alice', i, aliceZone(i)));
    events.push(event('carol', i, 'Europe/Paris', T0 + i * 7 * HOUR + 1_800_000));
    events.push(event('bob', i, 'America/New_York', T0 + i * 5 * HOUR));
  }
  return events;
}

async function feed(harness: EngineHarness, events: EngagementEvent[], timestamp: number): Promise<void> {
  await harness.handle(harness.config.common.topics.engagement, events.map((value) => ({ key: value.recipientId, value: harness.encode('engagement', value), timestamp })));
}

async function aggregates(harness: EngineHarness): Promise<Map<string, Profile>> {
  const found = new Map<string, Profile>();
  for await (const [key, value] of harness.store.entries({ gte: 'a:', lt: 'a;' })) found.set(key, decodeProfile(value));
  return found;
}

describe('erasure in the engine', () => {
  it.each([
    ['the default one before their zone was known, then their zone', ZONE_KNOWN_LATER],
    ['default, Paris, New York, Paris again', MOVING],
  ] as const)('removes the recipient from every cohort they fed (%s) and from the global aggregate', async (_, aliceZone) => {
    const erased = await EngineHarness.create();
    const reference = await EngineHarness.create();
    await feed(erased, history(true, aliceZone), ERASED_AT - HOUR);
    await feed(reference, history(false), ERASED_AT - HOUR);
    expect((await aggregates(erased)).has(ENGINE_KEYS.cohort('UTC'))).toBe(true);

    const request: ErasureRequest = { requestId: 'er-1', recipientId: 'alice', requestedAt: ERASED_AT };
    await erased.handle(erased.config.common.topics.erasure, [{ key: 'alice', value: erased.encode('erasure', request), timestamp: ERASED_AT }]);

    expect(await erased.store.get(ENGINE_KEYS.recipient('alice'))).toBeUndefined();
    const after = await aggregates(erased);
    const expected = await aggregates(reference);
    // The default cohort only Alice fed is gone; the others hold what the others put there.
    expect([...after.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, profile] of expected) {
      const actual = after.get(key)!;
      expect(actual.events, key).toBe(profile.events);
      expect([...actual.cells.keys()].sort(), key).toEqual([...profile.cells.keys()].sort());
      for (const [index, value] of profile.cells) expect(Math.abs(actual.cells.get(index)! - value) / value, `${key} cell ${index}`).toBeLessThan(0.01);
    }
  });

  it('ignores events and triggers from before the erasure consumed after it, and counts them; later ones count again', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    await feed(harness, history(true), ERASED_AT - HOUR);
    await harness.handle(topics.erasure, [{ key: 'alice', value: harness.encode('erasure', { requestId: 'er-1', recipientId: 'alice', requestedAt: ERASED_AT - 60_000 }), timestamp: ERASED_AT }]);
    const before = await aggregates(harness);

    // Late records from before the erasure (another topic, a producer retry): nothing comes back.
    await feed(harness, [event('alice', 100, 'Europe/Paris', ERASED_AT - 2 * HOUR)], ERASED_AT + HOUR);
    const late = await harness.handle(topics.triggers, [{ key: 'alice', value: harness.encode('trigger', trigger('alice', ERASED_AT - 10 * 60_000)), timestamp: ERASED_AT + HOUR }]);
    expect(late.outputs).toEqual([]);
    expect(late.deadLettered).toEqual([]);
    expect(await harness.store.get(ENGINE_KEYS.recipient('alice'))).toBeUndefined();
    expect(await aggregates(harness)).toEqual(before);
    expect(await harness.metric('sto_engine_engagement_events_total', { outcome: 'erased' })).toBe(1);
    expect(await harness.metric('sto_engine_triggers_ignored_total', { reason: 'erased' })).toBe(1);

    // Activity after the erasure is a new start.
    await feed(harness, [event('alice', 101, 'Europe/Paris', ERASED_AT + 2 * HOUR)], ERASED_AT + 3 * HOUR);
    expect(decodeRecipient((await harness.store.get(ENGINE_KEYS.recipient('alice')))!).profile.events).toBe(1);
    const fresh = await harness.handle(topics.triggers, [{ key: 'alice', value: harness.encode('trigger', trigger('alice', ERASED_AT + 3 * HOUR)), timestamp: ERASED_AT + 3 * HOUR }]);
    expect(fresh.outputs.map((output) => output.topic)).toEqual([topics.scheduled]);
  });

  it('keeps its marker bounded: keyed by a hash, not the id, and swept once expired', async () => {
    const harness = await EngineHarness.create({ STO_ENGINE_ERASURE_MARKER_DAYS: '1' });
    const { topics } = harness.config.common;
    const erase = (recipientId: string, at: number) =>
      harness.handle(topics.erasure, [{ key: recipientId, value: harness.encode('erasure', { requestId: `er-${recipientId}`, recipientId, requestedAt: at }), timestamp: at }]);
    await erase('alice', ERASED_AT);
    const keys = async () => {
      const found: string[] = [];
      for await (const [key, value] of harness.store.entries({ gte: '\x01', lt: '\xff' })) {
        expect(key.includes('alice') || value.includes('alice')).toBe(false);
        found.push(key);
      }
      return found;
    };
    expect((await keys()).filter((key) => key.startsWith('e:'))).toEqual([ERASURE_KEYS.marker('alice')]);
    // Two days later another erasure sweeps Alice's expired marker and its index entry.
    await erase('bob', ERASED_AT + 2 * 24 * HOUR);
    const left = await keys();
    expect(left.filter((key) => key.startsWith('e:'))).toEqual([ERASURE_KEYS.marker('bob')]);
    expect(left.filter((key) => key.startsWith('x:'))).toHaveLength(1);
    // An expired marker no longer stops Alice's old events.
    await feed(harness, [event('alice', 1, 'UTC', ERASED_AT - HOUR)], ERASED_AT + 2 * 24 * HOUR);
    expect(await harness.store.get(ENGINE_KEYS.recipient('alice'))).toBeDefined();
  });
});
