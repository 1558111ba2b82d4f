import type { ReceivedEngagementEvent } from '../shared/contracts/record-types.ts';
import { ErrorCode, InputError } from '../shared/errors.ts';

/** The recipient's latest released send of one campaign and channel (index `last:`). */
export interface LatestSend {
  scheduleId: string;
  releasedAt: number;
  deliveredAt: number | null;
}

export type AttributionRule = 'schedule_id' | 'message_id' | 'latest_send';

/**
 * Which send an engagement event answers, in order:
 *  1. its scheduleId;
 *  2. else its messageId, when a known send carries that message id;
 *  3. else the recipient's latest released send of the event's campaign and channel: for a
 *     DELIVERY, when it was released at or before the event; for anything else, when it was
 *     delivered and the event falls inside its conversion window (from delivery).
 * Null: the event answers no send this stage knows (a send made outside the pipeline).
 */
export function attribute(
  event: Pick<ReceivedEngagementEvent, 'scheduleId' | 'eventType' | 'occurredAt'>,
  found: { byMessageId: string | null; latest: LatestSend | null },
  windowMs: number,
): { scheduleId: string; rule: AttributionRule } | null {
  if (event.scheduleId) return { scheduleId: event.scheduleId, rule: 'schedule_id' };
  if (found.byMessageId) return { scheduleId: found.byMessageId, rule: 'message_id' };
  const latest = found.latest;
  if (!latest) return null;
  if (event.eventType === 'DELIVERY') return event.occurredAt >= latest.releasedAt ? { scheduleId: latest.scheduleId, rule: 'latest_send' } : null;
  if (latest.deliveredAt === null) return null;
  return event.occurredAt >= latest.deliveredAt && event.occurredAt <= latest.deliveredAt + windowMs ? { scheduleId: latest.scheduleId, rule: 'latest_send' } : null;
}

const CURRENCY = /^[A-Z]{3}$/;

/**
 * A conversion's value must be a finite amount, not negative, with its ISO 4217 currency; a
 * conversion without a value counts as a conversion of value 0 (currency optional then).
 * Anything else is a sender's defect: dead-lettered with the reason, never counted.
 */
export function checkConversion(event: Pick<ReceivedEngagementEvent, 'eventType' | 'value' | 'currency'>): void {
  if (event.eventType !== 'CONVERSION') return;
  const value = event.value ?? null;
  const currency = event.currency ?? null;
  if (value === null) {
    if (currency !== null && !CURRENCY.test(currency)) throw new InputError(ErrorCode.INVALID_FIELD, `conversion currency "${currency}" is not an ISO 4217 code`);
    return;
  }
  if (!Number.isFinite(value)) throw new InputError(ErrorCode.INVALID_FIELD, `conversion value ${value} is not a finite number`);
  if (value < 0) throw new InputError(ErrorCode.INVALID_FIELD, `conversion value ${value} is negative`);
  if (currency === null) throw new InputError(ErrorCode.INVALID_FIELD, `conversion value ${value} has no currency`);
  if (!CURRENCY.test(currency)) throw new InputError(ErrorCode.INVALID_FIELD, `conversion currency "${currency}" is not an ISO 4217 code`);
}
