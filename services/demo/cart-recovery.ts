import type { CampaignSettings, EngagementEvent, ReadySend, SendTrigger, UnreleasedSend } from '../shared/contracts/record-types.ts';
import type { SimRecipient } from '../simulator/population.ts';
import { SeededRandom } from '../simulator/seeded-random.ts';

/**
 * The demo's cart-recovery sequence: the campaign's settings (three SMS steps, stopped by a
 * conversion of the same cart or by an unsubscribe), the simulated shoppers' answers to each
 * message, and the summary of what happened to every step.
 */

export const CART_CAMPAIGN = 'cart-recovery';
const HOUR_MS = 3_600_000;

/** Step 1 within the hour (urgent SMS, allowed hours only), then about 24 h and 48 h later. */
export const CART_SETTINGS: CampaignSettings = {
  campaignId: CART_CAMPAIGN,
  windowHours: null,
  quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 },
  quietHoursPolicy: null,
  defaultLocalMinute: 10 * 60,
  objective: 'CONVERSION',
  holdoutShare: 0,
  optimize: true,
  urgency: { urgentChannels: ['SMS'], transactionalChannels: null, quietHoursApply: true },
  expiryGraceMinutes: 120,
  caps: null,
  stopOn: [
    { eventType: 'CONVERSION', sameCorrelation: true, sameCampaign: false },
    { eventType: 'UNSUBSCRIBE', sameCorrelation: false, sameCampaign: false },
  ],
  steps: [
    { startHours: 0, endHours: 1, immediate: true },
    { startHours: 20, endHours: 28, immediate: false },
    { startHours: 44, endHours: 52, immediate: false },
  ],
  updatedAt: null,
};

/** The latest hour after the trigger at which a step of the sequence can be due. */
export const CART_HORIZON_HOURS = Math.max(...CART_SETTINGS.steps.map((step) => step.endHours));

/** A cart abandoned by `recipient`: every setting but the cart's id comes from the campaign. */
export function cartTrigger(recipient: SimRecipient, index: number, now: number): SendTrigger {
  return {
    triggerId: `demo-cart-${index}`,
    recipientId: recipient.recipientId,
    campaignId: CART_CAMPAIGN,
    messageId: null,
    channel: 'SMS',
    triggerKind: 'CART_RECOVERY',
    urgency: 'URGENT',
    occurredAt: now,
    timeZone: recipient.timeZone,
    windowHours: null,
    sendAt: null,
    quietHours: null,
    quietHoursPolicy: null,
    defaultLocalMinute: null,
    objective: null,
    holdoutShare: null,
    payload: Buffer.from(`cart reminder for ${recipient.recipientId}`),
    attributes: {},
    correlationId: `cart-${index}`,
  };
}

// Of the shoppers who get a reminder: a share buys the cart within hours, a few unsubscribe.
const BUY_AFTER_REMINDER = 0.3;
const UNSUBSCRIBE_AFTER_REMINDER = 0.08;

/** What a shopper does after a reminder: buys the cart (a conversion of that cart), unsubscribes from SMS, or nothing. */
export function cartAnswer(recipient: SimRecipient, ready: ReadySend, correlationId: string, seed: string): EngagementEvent | null {
  const rng = new SeededRandom(['cart-answer', seed, ready.scheduleId]);
  const draw = rng.next();
  const base = {
    recipientId: recipient.recipientId,
    channel: 'SMS' as const,
    timeZone: recipient.timeZone,
    campaignId: ready.campaignId,
    messageId: ready.messageId,
    machineOpen: null,
    userAgent: null,
    deliveredAt: null,
    scheduleId: ready.scheduleId,
    correlationId,
    attributes: {},
  };
  const occurredAt = ready.sendAt + Math.round(rng.between(0.2, 3) * HOUR_MS);
  if (draw < BUY_AFTER_REMINDER) return { ...base, eventId: `${ready.scheduleId}:bought`, eventType: 'CONVERSION', occurredAt, value: 60, currency: 'EUR' };
  if (draw < BUY_AFTER_REMINDER + UNSUBSCRIBE_AFTER_REMINDER) return { ...base, eventId: `${ready.scheduleId}:unsubscribed`, eventType: 'UNSUBSCRIBE', occurredAt };
  return null;
}

/** One step of one cart's sequence as the demo saw it. */
export interface CartStep {
  correlationId: string;
  recipientId: string;
  step: number;
  /** When the step was released (simulated clock), or null. */
  releasedAt: number | null;
  /** Why it was not released (the delay service's audit record), or null. */
  unreleased: UnreleasedSend['outcome'] | null;
}

/** Each cart's answer: what the shopper did and when (simulated clock). */
export interface CartAnswer {
  correlationId: string;
  eventType: 'CONVERSION' | 'UNSUBSCRIBE';
  occurredAt: number;
}

export function formatCartSummary(steps: readonly CartStep[], answers: readonly CartAnswer[]): string[] {
  const answerOf = new Map(answers.map((answer) => [answer.correlationId, answer]));
  const carts = new Set(steps.map((step) => step.correlationId));
  const firstSent = steps.filter((step) => step.step === 1 && step.releasedAt !== null).length;
  const followUps = steps.filter((step) => step.step > 1);
  const released = followUps.filter((step) => step.releasedAt !== null);
  const byOutcome = new Map<string, number>();
  for (const step of followUps) if (step.unreleased) byOutcome.set(step.unreleased, (byOutcome.get(step.unreleased) ?? 0) + 1);
  // A follow-up released after its shopper had bought or unsubscribed is what stop rules prevent.
  const wrongful = released.filter((step) => {
    const answer = answerOf.get(step.correlationId);
    return answer !== undefined && answer.occurredAt < step.releasedAt!;
  }).length;
  const bought = answers.filter((answer) => answer.eventType === 'CONVERSION').length;
  const unsubscribed = answers.filter((answer) => answer.eventType === 'UNSUBSCRIBE').length;
  return [
    '',
    `Cart recovery (${carts.size} abandoned carts, 3 SMS steps: within the hour, 20-28 h, 44-52 h; stopped by buying the cart or unsubscribing):`,
    `  step 1 sent ${firstSent}; shoppers who bought after a reminder ${bought}, who unsubscribed ${unsubscribed}`,
    `  follow-ups: ${followUps.length} scheduled, ${released.length} released, ${[...byOutcome].map(([outcome, count]) => `${count} ${outcome}`).join(', ') || 'none held back'}`,
    `  follow-ups released after the shopper had bought or unsubscribed: ${wrongful}`,
  ];
}
