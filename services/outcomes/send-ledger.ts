import type { Arm, Channel, OutcomeStatus, ReadySend, ReceivedEngagementEvent, ScheduledSend, SendOutcome, UnreleasedSend, UnreleasedStatus } from '../shared/contracts/record-types.ts';
import { isMachineOpen, type MachineOpenRule } from '../shared/engagement/machine-open.ts';

/**
 * What the outcomes stage keeps of one send until its conversion window closes. Pure: built from
 * the scheduled send (the decision), the ready send (the release), the unreleased record and the
 * engagement events attributed to it; the handler stores it as JSON under `send:<scheduleId>`.
 */
export interface SendLedger {
  scheduleId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  channel: Channel;
  /** Null until the scheduled send (the decision) is seen. */
  decision: {
    arm: Arm;
    reason: string;
    propensity: number;
    exploration: boolean;
    bindingConstraint: string;
    localSendHour: number | null;
    triggeredAt: number;
  } | null;
  sendAt: number;
  expiresAt: number | null;
  releasedAt: number | null;
  unreleased: UnreleasedStatus | null;
  deliveredAt: number | null;
  /** Raw event times: the window (counted from delivery) is applied at the close, when delivery is known. */
  humanOpens: number[];
  machineOpens: number[];
  clicks: number[];
  conversions: Array<{ at: number; value: number; currency: string | null }>;
  bounced: boolean;
  complained: boolean;
  unsubscribed: boolean;
  /** Event ids applied to this send (deduplication per send). */
  eventIds: string[];
}

export interface WindowRule {
  /** Conversion window counted from delivery. */
  windowMs: number;
  /** Events arriving this long after a window's end are still taken before it closes. */
  graceMs: number;
  /** A released send without a DELIVERY is closed as undelivered this long after its release. */
  deliveryWaitMs: number;
}

/** Local hour of day of an ISO 8601 local time with offset ("2026-03-01T09:00:00.000+01:00" → 9). */
export function localHourOf(localSendTime: string): number | null {
  const match = /T(\d{2}):/.exec(localSendTime);
  const hour = match ? Number(match[1]) : NaN;
  return Number.isInteger(hour) && hour >= 0 && hour <= 23 ? hour : null;
}

function blank(identity: Pick<SendLedger, 'scheduleId' | 'recipientId' | 'campaignId' | 'messageId' | 'channel' | 'sendAt'>): SendLedger {
  return {
    ...identity,
    decision: null,
    expiresAt: null,
    releasedAt: null,
    unreleased: null,
    deliveredAt: null,
    humanOpens: [],
    machineOpens: [],
    clicks: [],
    conversions: [],
    bounced: false,
    complained: false,
    unsubscribed: false,
    eventIds: [],
  };
}

/** The decision of a scheduled send, over what the ledger held (a replacement decision wins). */
export function withDecision(existing: SendLedger | null, send: ScheduledSend): SendLedger {
  const ledger = existing ?? blank({ scheduleId: send.scheduleId, recipientId: send.recipientId, campaignId: send.campaignId, messageId: send.messageId, channel: send.channel, sendAt: send.sendAt });
  return {
    ...ledger,
    messageId: ledger.messageId ?? send.messageId,
    sendAt: send.sendAt,
    expiresAt: send.expiresAt ?? null,
    decision: {
      arm: send.arm,
      reason: send.reason,
      propensity: send.propensity,
      exploration: send.exploration,
      bindingConstraint: send.bindingConstraint,
      localSendHour: localHourOf(send.localSendTime),
      triggeredAt: send.triggeredAt,
    },
  };
}

/** The release; a ready send seen before its decision (a lagging consumer) starts the ledger. */
export function withRelease(existing: SendLedger | null, ready: ReadySend): SendLedger {
  const ledger = existing ?? blank({ scheduleId: ready.scheduleId, recipientId: ready.recipientId, campaignId: ready.campaignId, messageId: ready.messageId, channel: ready.channel, sendAt: ready.sendAt });
  // At-least-once release: the first release instant stays.
  return { ...ledger, messageId: ledger.messageId ?? ready.messageId, releasedAt: ledger.releasedAt ?? ready.releasedAt };
}

export function withUnreleased(existing: SendLedger | null, record: UnreleasedSend): SendLedger {
  const ledger = existing ?? blank({ scheduleId: record.scheduleId, recipientId: record.recipientId, campaignId: record.campaignId, messageId: record.messageId, channel: record.channel, sendAt: record.sendAt });
  return { ...ledger, unreleased: unreleasedStatusOf(record.outcome) };
}

/** The delay service's reasons a report counts apart; a cancelled or erased send is just not released. */
function unreleasedStatusOf(outcome: UnreleasedSend['outcome']): UnreleasedStatus {
  return outcome === 'EXPIRED' || outcome === 'STOPPED' || outcome === 'SUPPRESSED' || outcome === 'CAPPED' ? outcome : 'NOT_RELEASED';
}

export type EventVerdict = 'applied' | 'duplicate' | 'before_send' | 'ignored_type';

/**
 * Applies an attributed engagement event. Events before the send's scheduled instant cannot answer
 * it (the delay service never releases earlier): `before_send`, ignored. The release stamp is not
 * the bound: a sender's clock may run behind the delay service's. Whether an event falls inside the
 * window is decided at the close, from the delivery instant.
 */
export function withEvent(ledger: SendLedger, event: ReceivedEngagementEvent, rule: MachineOpenRule): { ledger: SendLedger; verdict: EventVerdict } {
  if (ledger.eventIds.includes(event.eventId)) return { ledger, verdict: 'duplicate' };
  if (event.occurredAt < ledger.sendAt) return { ledger, verdict: 'before_send' };
  const next: SendLedger = { ...ledger, eventIds: [...ledger.eventIds, event.eventId] };
  switch (event.eventType) {
    case 'DELIVERY':
      // The first delivery report anchors the window; a repeated one (another id) does not move it.
      next.deliveredAt = ledger.deliveredAt === null ? event.occurredAt : Math.min(ledger.deliveredAt, event.occurredAt);
      break;
    case 'OPEN': {
      const deliveredAt = event.deliveredAt ?? ledger.deliveredAt;
      if (isMachineOpen({ ...event, deliveredAt }, rule)) next.machineOpens = [...ledger.machineOpens, event.occurredAt];
      else next.humanOpens = [...ledger.humanOpens, event.occurredAt];
      break;
    }
    case 'CLICK':
      next.clicks = [...ledger.clicks, event.occurredAt];
      break;
    case 'CONVERSION':
      next.conversions = [...ledger.conversions, { at: event.occurredAt, value: event.value ?? 0, currency: event.currency ?? null }];
      break;
    case 'BOUNCE':
      next.bounced = true;
      break;
    case 'COMPLAINT':
      next.complained = true;
      break;
    case 'UNSUBSCRIBE':
      next.unsubscribed = true;
      break;
    default:
      return { ledger, verdict: 'ignored_type' };
  }
  return { ledger: next, verdict: 'applied' };
}

/**
 * When the send's record closes (runner clock): a delivered send at delivery + window + grace;
 * a send taken out without release at once; otherwise its release (or its scheduled instant, or
 * its expiry when later) plus the delivery wait, window and grace, moved later if a DELIVERY comes.
 */
export function closeAt(ledger: SendLedger, rule: WindowRule): number {
  if (ledger.unreleased !== null && ledger.releasedAt === null) return 0;
  if (ledger.deliveredAt !== null) return ledger.deliveredAt + rule.windowMs + rule.graceMs;
  const sent = ledger.releasedAt ?? Math.max(ledger.sendAt, ledger.expiresAt ?? 0);
  return sent + rule.deliveryWaitMs + rule.windowMs + rule.graceMs;
}

/** The send's outcome: only what happened within [delivery, delivery + window] counts. */
export function outcomeOf(ledger: SendLedger, rule: WindowRule, closedAt: number): SendOutcome {
  const status: OutcomeStatus =
    ledger.deliveredAt !== null ? 'DELIVERED' : ledger.releasedAt !== null ? 'UNDELIVERED' : ledger.unreleased ?? 'UNDELIVERED';
  const start = ledger.deliveredAt;
  const end = start === null ? null : start + rule.windowMs;
  const inside = (at: number) => start !== null && end !== null && at >= start && at <= end;
  const first = (times: number[]) => {
    const kept = times.filter(inside);
    return kept.length === 0 ? null : Math.min(...kept);
  };
  const conversions = ledger.conversions.filter((conversion) => inside(conversion.at));
  const currency = conversions.find((conversion) => conversion.currency !== null)?.currency ?? null;
  const value = conversions.reduce((sum, conversion) => sum + (conversion.currency === currency ? conversion.value : 0), 0);
  const decision = ledger.decision;
  return {
    scheduleId: ledger.scheduleId,
    recipientId: ledger.recipientId,
    campaignId: ledger.campaignId,
    messageId: ledger.messageId,
    channel: ledger.channel,
    arm: decision?.arm ?? 'UNKNOWN',
    reason: decision?.reason ?? 'UNKNOWN',
    propensity: decision?.propensity ?? null,
    exploration: decision?.exploration ?? false,
    bindingConstraint: decision?.bindingConstraint ?? null,
    localSendHour: decision?.localSendHour ?? null,
    sendAt: ledger.sendAt,
    triggeredAt: decision?.triggeredAt ?? null,
    status,
    releasedAt: ledger.releasedAt,
    deliveredAt: ledger.deliveredAt,
    windowEndsAt: end,
    firstOpenAt: first(ledger.humanOpens),
    machineOpens: ledger.machineOpens.filter(inside).length,
    firstClickAt: first(ledger.clicks),
    conversions: conversions.length,
    value,
    currency,
    bounced: ledger.bounced,
    complained: ledger.complained,
    unsubscribed: ledger.unsubscribed,
    closedAt,
  };
}

export function encodeLedger(ledger: SendLedger): Buffer {
  return Buffer.from(JSON.stringify(ledger));
}

export function decodeLedger(bytes: Buffer): SendLedger {
  const ledger = JSON.parse(bytes.toString('utf8')) as SendLedger;
  if (typeof ledger?.scheduleId !== 'string' || !Array.isArray(ledger.eventIds)) throw new Error('not a send ledger');
  return ledger;
}
