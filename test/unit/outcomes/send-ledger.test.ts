import { describe, expect, it } from 'vitest';
import type { ReadySend, ReceivedEngagementEvent, ScheduledSend, UnreleasedSend } from '../../../services/shared/contracts/record-types.ts';
import { attribute, checkConversion } from '../../../services/outcomes/attribution.ts';
import { addOutcome, decodeAggregate, emptyAggregate, encodeAggregate, mergeAggregate } from '../../../services/outcomes/campaign-aggregate.ts';
import { closeAt, localHourOf, outcomeOf, withDecision, withEvent, withRelease, withUnreleased, type SendLedger } from '../../../services/outcomes/send-ledger.ts';
import { sampleScheduled, sampleUnreleased } from '../../support/sample-records.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 2, 2, 8);
const rule = { windowMs: 120 * HOUR, graceMs: HOUR, deliveryWaitMs: 24 * HOUR, machineOpenSeconds: 10, machineOpenUserAgent: /AppleMailPrivacy/i };

function scheduled(overrides: Partial<ScheduledSend> = {}): ScheduledSend {
  return { ...sampleScheduled(1, 'r-1'), scheduleId: 's-1', campaignId: 'c', sendAt: T0, localSendTime: '2026-03-02T09:00:00.000+01:00', arm: 'TREATMENT', reason: 'OPTIMIZED', propensity: 0.95, exploration: false, triggeredAt: T0 - 2 * HOUR, ...overrides };
}

function ready(releasedAt: number): ReadySend {
  return { scheduleId: 's-1', triggerId: 't', recipientId: 'r-1', campaignId: 'c', messageId: null, channel: 'EMAIL', reason: 'OPTIMIZED', sendAt: T0, releasedAt, timeZone: 'Europe/Berlin', payload: Buffer.alloc(0) };
}

let seq = 0;
function event(eventType: ReceivedEngagementEvent['eventType'], occurredAt: number, fields: Partial<ReceivedEngagementEvent> = {}): ReceivedEngagementEvent {
  return { eventId: `e-${seq++}`, recipientId: 'r-1', channel: 'EMAIL', eventType, occurredAt, timeZone: null, campaignId: 'c', messageId: null, machineOpen: null, userAgent: null, deliveredAt: null, scheduleId: 's-1', correlationId: null, value: null, currency: null, bounceKind: null, attributes: {}, ...fields };
}

function apply(ledger: SendLedger, ...events: ReceivedEngagementEvent[]): SendLedger {
  return events.reduce((current, e) => withEvent(current, e, rule).ledger, ledger);
}

describe('a send\'s window is counted from its delivery', () => {
  it('a send delivered 20 h late still gets its full window; what falls after delivery + window is not counted', () => {
    const base = withRelease(withDecision(null, scheduled()), ready(T0));
    const deliveredAt = T0 + 20 * HOUR;
    const ledger = apply(
      base,
      event('DELIVERY', deliveredAt),
      // 110 h after delivery = 130 h after the send: outside a window counted from the send, inside one counted from delivery.
      event('CONVERSION', deliveredAt + 110 * HOUR, { value: 30, currency: 'EUR' }),
      event('CONVERSION', deliveredAt + 121 * HOUR, { value: 99, currency: 'EUR' }),
      event('CLICK', deliveredAt + 119 * HOUR),
    );
    expect(closeAt(ledger, rule)).toBe(deliveredAt + 121 * HOUR);
    const outcome = outcomeOf(ledger, rule, deliveredAt + 121 * HOUR);
    expect(outcome).toMatchObject({ status: 'DELIVERED', deliveredAt, windowEndsAt: deliveredAt + 120 * HOUR, conversions: 1, value: 30, currency: 'EUR', firstClickAt: deliveredAt + 119 * HOUR, arm: 'TREATMENT', localSendHour: 9 });
  });

  it('an open reported before its delivery report is still counted once the delivery is known', () => {
    const base = withRelease(withDecision(null, scheduled()), ready(T0));
    const ledger = apply(base, event('OPEN', T0 + 2 * HOUR), event('DELIVERY', T0 + 60_000));
    expect(outcomeOf(ledger, rule, T0 + 200 * HOUR).firstOpenAt).toBe(T0 + 2 * HOUR);
  });

  it('machine opens (the engine\'s rule: sender flag, proxy user agent, seconds after delivery) are counted apart', () => {
    const base = withRelease(withDecision(null, scheduled()), ready(T0));
    const deliveredAt = T0 + 1_000;
    const ledger = apply(
      base,
      event('DELIVERY', deliveredAt),
      event('OPEN', deliveredAt + 3_000, { deliveredAt }),
      event('OPEN', deliveredAt + HOUR, { userAgent: 'Mozilla AppleMailPrivacy' }),
      event('OPEN', deliveredAt + 2 * HOUR, { machineOpen: true }),
    );
    const outcome = outcomeOf(ledger, rule, deliveredAt + 200 * HOUR);
    expect(outcome.machineOpens).toBe(3);
    expect(outcome.firstOpenAt).toBeNull();
  });

  it('an event before the send is ignored, a replayed event id changes nothing', () => {
    const base = withRelease(withDecision(null, scheduled()), ready(T0));
    expect(withEvent(base, event('CLICK', T0 - 1), rule).verdict).toBe('before_send');
    const click = event('CLICK', T0 + HOUR);
    const once = withEvent(base, click, rule);
    expect(once.verdict).toBe('applied');
    const twice = withEvent(once.ledger, click, rule);
    expect(twice.verdict).toBe('duplicate');
    expect(twice.ledger).toBe(once.ledger);
  });

  it('the bound is the scheduled instant, not the release stamp (a sender\'s clock may run behind the delay service\'s); ids are deduplicated per send', () => {
    const releasedLate = withRelease(withDecision(null, scheduled()), ready(T0 + 5 * 60_000));
    expect(withEvent(releasedLate, event('DELIVERY', T0 + 20_000), rule).verdict).toBe('applied');
    // Two sends of one message id: the sender reused the event id, each send still gets its delivery.
    const other = withRelease(withDecision(null, scheduled({ scheduleId: 's-2' })), ready(T0));
    const delivery = event('DELIVERY', T0 + 1_000);
    expect(withEvent(releasedLate, delivery, rule).verdict).toBe('applied');
    expect(withEvent(other, delivery, rule).verdict).toBe('applied');
  });

  it('a released send without delivery closes as undelivered after the delivery wait and window; a delivery moves the close', () => {
    const released = withRelease(withDecision(null, scheduled()), ready(T0 + 5));
    expect(closeAt(released, rule)).toBe(T0 + 5 + 24 * HOUR + 120 * HOUR + HOUR);
    expect(outcomeOf(released, rule, T0).status).toBe('UNDELIVERED');
  });

  it('reads the local hour of the local send time', () => {
    expect(localHourOf('2026-03-29T03:00:00.000+02:00')).toBe(3);
    expect(localHourOf('garbage')).toBeNull();
  });
});

describe('attribution', () => {
  const window = 120 * HOUR;
  it('by scheduleId first, then messageId, then the latest send of the campaign and channel within its window', () => {
    expect(attribute({ scheduleId: 's-9', eventType: 'OPEN', occurredAt: T0 }, { byMessageId: 's-2', latest: null }, window)).toEqual({ scheduleId: 's-9', rule: 'schedule_id' });
    expect(attribute({ scheduleId: null, eventType: 'OPEN', occurredAt: T0 }, { byMessageId: 's-2', latest: { scheduleId: 's-3', releasedAt: T0, deliveredAt: T0 } }, window)).toEqual({ scheduleId: 's-2', rule: 'message_id' });
    const latest = { scheduleId: 's-3', releasedAt: T0, deliveredAt: T0 + 1_000 };
    expect(attribute({ scheduleId: null, eventType: 'CLICK', occurredAt: T0 + 10 * HOUR }, { byMessageId: null, latest }, window)).toEqual({ scheduleId: 's-3', rule: 'latest_send' });
    // Outside the window counted from its delivery, or before it: nothing.
    expect(attribute({ scheduleId: null, eventType: 'CLICK', occurredAt: T0 + 1_000 + window + 1 }, { byMessageId: null, latest }, window)).toBeNull();
    expect(attribute({ scheduleId: null, eventType: 'CLICK', occurredAt: T0 }, { byMessageId: null, latest }, window)).toBeNull();
    // A DELIVERY without ids goes to the latest released send; a click needs it delivered.
    const undelivered = { scheduleId: 's-4', releasedAt: T0, deliveredAt: null };
    expect(attribute({ scheduleId: null, eventType: 'DELIVERY', occurredAt: T0 + 5 }, { byMessageId: null, latest: undelivered }, window)).toEqual({ scheduleId: 's-4', rule: 'latest_send' });
    expect(attribute({ scheduleId: null, eventType: 'CLICK', occurredAt: T0 + 5 }, { byMessageId: null, latest: undelivered }, window)).toBeNull();
    expect(attribute({ scheduleId: null, eventType: 'OPEN', occurredAt: T0 }, { byMessageId: null, latest: null }, window)).toBeNull();
  });

  it('a conversion needs a finite, non-negative value with an ISO 4217 currency (or no value at all)', () => {
    expect(() => checkConversion({ eventType: 'CONVERSION', value: 10, currency: null })).toThrow(/no currency/);
    expect(() => checkConversion({ eventType: 'CONVERSION', value: -1, currency: 'EUR' })).toThrow(/negative/);
    expect(() => checkConversion({ eventType: 'CONVERSION', value: 10, currency: 'euro' })).toThrow(/ISO 4217/);
    expect(() => checkConversion({ eventType: 'CONVERSION', value: Number.NaN, currency: 'EUR' })).toThrow(/finite/);
    expect(() => checkConversion({ eventType: 'CONVERSION', value: 10, currency: 'EUR' })).not.toThrow();
    expect(() => checkConversion({ eventType: 'CONVERSION', value: null, currency: null })).not.toThrow();
    expect(() => checkConversion({ eventType: 'OPEN', value: -5, currency: null })).not.toThrow();
  });
});

describe('a send taken out without release keeps the reason', () => {
  const unreleased = (outcome: UnreleasedSend['outcome']): UnreleasedSend => ({ ...sampleUnreleased(1, 'r-1'), scheduleId: 's-1', campaignId: 'c', outcome });

  it.each([
    ['STOPPED', 'STOPPED'],
    ['SUPPRESSED', 'SUPPRESSED'],
    ['CAPPED', 'CAPPED'],
    ['EXPIRED', 'EXPIRED'],
    ['CANCELLED', 'NOT_RELEASED'],
    ['ERASED', 'NOT_RELEASED'],
  ] as const)('%s closes as %s, and the campaign aggregate and report count it by reason', (outcome, status) => {
    const ledger = withUnreleased(withDecision(null, scheduled()), unreleased(outcome));
    expect(closeAt(ledger, rule)).toBe(0);
    const closed = outcomeOf(ledger, rule, T0);
    expect(closed.status).toBe(status);
    const partial = emptyAggregate('c', 'EMAIL');
    addOutcome(partial, closed);
    const whole = emptyAggregate('c', 'EMAIL');
    mergeAggregate(whole, decodeAggregate(encodeAggregate(partial)));
    expect(whole.unreleased).toEqual({ [status]: 1 });
    expect(whole.notReleased).toBe(status === 'EXPIRED' ? 0 : 1);
    expect(whole.expired).toBe(status === 'EXPIRED' ? 1 : 0);
  });

  it('a partial written before reasons were kept still decodes and merges', () => {
    const { unreleased: _dropped, ...older } = emptyAggregate('c', 'EMAIL');
    const whole = emptyAggregate('c', 'EMAIL');
    mergeAggregate(whole, decodeAggregate(Buffer.from(JSON.stringify({ ...older, notReleased: 2 }))));
    expect(whole.notReleased).toBe(2);
    expect(whole.unreleased).toEqual({});
  });
});
