import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import type { EngagementEvent } from '../../../services/shared/contracts/record-types.ts';
import { DEFAULT_LEGACY_SCHEDULE, generateHistory, legacySendTimes } from '../../../services/simulator/history.ts';
import { InMemoryEngine } from '../../../services/simulator/in-memory-engine.ts';
import { createPopulation } from '../../../services/simulator/population.ts';
import { expectedOpen, respondToSend } from '../../../services/simulator/respond.ts';

const START = Date.UTC(2025, 2, 3);
const WEEK = 7 * 86_400_000;
const HOUR = 3_600_000;
const population = createPopulation({ size: 150, seed: 'history', startMs: START });
const history = generateHistory(population, { seed: 'history', endMs: START, weeks: 4 });

function byRecipient(events: readonly EngagementEvent[]): Map<string, EngagementEvent[]> {
  const map = new Map<string, EngagementEvent[]>();
  for (const event of events) map.set(event.recipientId, [...(map.get(event.recipientId) ?? []), event]);
  return map;
}

describe('generateHistory', () => {
  it('is deterministic from the seed and sorted by occurredAt', () => {
    expect(generateHistory(population, { seed: 'history', endMs: START, weeks: 4 })).toEqual(history);
    expect(generateHistory(population, { seed: 'another', endMs: START, weeks: 4 })).not.toEqual(history);
    for (let i = 1; i < history.length; i++) expect(history[i]!.occurredAt).toBeGreaterThanOrEqual(history[i - 1]!.occurredAt);
    expect(new Set(history.map((event) => event.eventId)).size).toBe(history.length);
  });

  it('has sends only at the legacy schedule, and opens, clicks and deliveries only after a send of the same message', () => {
    const events = byRecipient(history);
    for (const recipient of population) {
      const own = events.get(recipient.recipientId) ?? [];
      const scheduled = new Set(legacySendTimes(recipient, START - 4 * WEEK, START).map((send) => send.sendAtMs));
      const sends = new Map(own.filter((event) => event.eventType === 'SEND').map((event) => [event.messageId, event.occurredAt]));
      expect(new Set(sends.values())).toEqual(scheduled);
      for (const event of own) {
        if (event.eventType === 'SESSION') {
          expect(event.messageId).toBeNull();
          continue;
        }
        const sentAt = sends.get(event.messageId);
        expect(sentAt, `${event.eventId} follows a send`).toBeDefined();
        expect(event.occurredAt).toBeGreaterThanOrEqual(sentAt!);
      }
    }
    // The schedule's instants: 10:00 and 09:30 local, 14:00 UTC on their weekdays.
    const localTimes = new Set(
      history
        .filter((event) => event.eventType === 'SEND')
        .map((event) => new Intl.DateTimeFormat('en-GB', { timeZone: event.timeZone!, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(event.occurredAt)),
    );
    expect(localTimes.size).toBeGreaterThan(DEFAULT_LEGACY_SCHEDULE.length);
    expect([...localTimes].filter((text) => /Tue 10:00|Thu 10:00|Sat 09:30/.test(text)).length).toBe(3);
  });

  it('gives newcomers almost no history and nothing before they joined', () => {
    const events = byRecipient(history);
    const newcomers = population.filter((recipient) => recipient.kind === 'newcomer');
    expect(newcomers.length).toBeGreaterThan(5);
    for (const newcomer of newcomers) {
      const own = (events.get(newcomer.recipientId) ?? []).filter((event) => event.occurredAt < START);
      expect(own.every((event) => event.occurredAt >= newcomer.joinedAtMs)).toBe(true);
      expect(own.filter((event) => event.eventType === 'SEND').length).toBeLessThanOrEqual(4);
    }
    const regularSends = population.filter((recipient) => recipient.kind === 'regular').map((recipient) => (events.get(recipient.recipientId) ?? []).filter((event) => event.eventType === 'SEND').length);
    expect(Math.min(...regularSends)).toBeGreaterThanOrEqual(4 * DEFAULT_LEGACY_SCHEDULE.length - 1);
  });

  it('gives MPP users machine opens that the engine recognises as such, in all three forms, and nobody else', async () => {
    const engine = new InMemoryEngine(compileEngineConfig({}));
    const mppIds = new Set(population.filter((recipient) => recipient.kind === 'mpp').map((recipient) => recipient.recipientId));
    expect(mppIds.size).toBeGreaterThan(5);
    const proxyOpens = history.filter((event) => event.eventId.endsWith(':open:proxy'));
    expect(new Set(proxyOpens.map((event) => event.recipientId))).toEqual(mppIds);
    const forms = { flagged: 0, userAgentOnly: 0, timingOnly: 0 };
    for (const event of proxyOpens) {
      if (event.machineOpen === true) forms.flagged++;
      else if (event.deliveredAt === null) forms.userAgentOnly++;
      else forms.timingOnly++;
    }
    expect(Math.min(forms.flagged, forms.userAgentOnly, forms.timingOnly)).toBeGreaterThan(0);
    const signals = new Map<string, string>();
    for (const event of history) {
      const result = await engine.applyEngagement(event, event.occurredAt);
      signals.set(event.eventId, `${result.outcome}:${result.signal}`);
    }
    for (const event of proxyOpens) expect(signals.get(event.eventId), event.eventId).toBe('applied:machine_open');
    const humanOpens = history.filter((event) => event.eventType === 'OPEN' && !event.eventId.endsWith(':open:proxy'));
    expect(humanOpens.length).toBeGreaterThan(100);
    for (const event of humanOpens) expect(signals.get(event.eventId), event.eventId).toBe('applied:human_open');
  });
});

describe('respondToSend', () => {
  it('opens as often within the arrival window as the ground truth says', () => {
    const recipient = population.find((candidate) => candidate.kind === 'regular')!;
    for (const sendAtMs of [START + 7 * HOUR, START + 19 * HOUR, START + 3 * HOUR]) {
      const trials = 3_000;
      let opened = 0;
      for (let trial = 0; trial < trials; trial++) {
        const events = respondToSend(recipient, { sendAtMs, channel: 'EMAIL', scheduleId: `s${trial}`, campaignId: 'c' }, 'respond');
        const open = events.find((event) => event.eventType === 'OPEN' && event.eventId.endsWith(':open'));
        if (open && open.occurredAt < sendAtMs + recipient.truth.arrivalWindowHours * HOUR) opened++;
      }
      const p = expectedOpen(recipient, sendAtMs);
      const sd = Math.sqrt((p * (1 - p)) / trials);
      expect(Math.abs(opened / trials - p)).toBeLessThan(4 * sd + 0.01);
    }
  });

  it('is deterministic, starts with the delivery and keeps human opens well after it', () => {
    const recipient = population.find((candidate) => candidate.kind === 'mpp')!;
    const send = { sendAtMs: START + 20 * HOUR, channel: 'EMAIL' as const, scheduleId: 'sched-1', campaignId: 'camp' };
    expect(respondToSend(recipient, send, 1)).toEqual(respondToSend(recipient, send, 1));
    for (let trial = 0; trial < 200; trial++) {
      const events = respondToSend(recipient, { ...send, scheduleId: `sched-${trial}` }, 1);
      expect(events[0]!.eventType).toBe('DELIVERY');
      const deliveredAt = events[0]!.occurredAt;
      for (const event of events.slice(1)) expect(event.occurredAt).toBeGreaterThanOrEqual(deliveredAt);
      const human = events.find((event) => event.eventId.endsWith(':open'));
      if (human) expect(human.occurredAt - deliveredAt).toBeGreaterThan(60_000);
    }
  });
});
