import type { Channel, EngagementEvent } from '../shared/contracts/record-types.ts';
import type { SimRecipient } from './population.ts';
import { SeededRandom } from './seeded-random.ts';
import { localSlotOfWall } from '../model/time/local-slot.ts';
import { requireZone } from '../model/time/time-zone.ts';

// How a simulated recipient reacts to a delivered message. Inbox checks are a Poisson process
// with the recipient's hourly rate; each check opens a waiting message with openPerCheck, so the
// first human open is the first event of the thinned process. The ground-truth open probability
// of a slot is exactly this process's chance of an open inside the arrival window.

const SECOND_MS = 1_000;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Messages not opened within this long after delivery are never opened. */
export const OPEN_HORIZON_HOURS = 48;
/** A human takes at least this long after delivery; machine opens come within seconds. */
const HUMAN_MIN_DELAY_MS = 2 * MINUTE_MS;

export interface SimulatedSend {
  sendAtMs: number;
  channel: Channel;
  scheduleId: string;
  campaignId: string;
  /** Defaults to the schedule id. */
  messageId?: string | null;
}

const HUMAN_USER_AGENTS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36',
];
const GENERIC_PROXY_USER_AGENT = 'Mozilla/5.0';
const PROXY_USER_AGENT = 'Mozilla/5.0 (Macintosh) Apple-Mail-Proxy (AppleMailPrivacy)';

/** Calls `visit` for each piece of [fromMs, toMs) that lies inside one local clock hour. */
export function forEachLocalHour(fromMs: number, toMs: number, timeZone: string, visit: (startMs: number, endMs: number, hourOfWeek: number) => boolean | void): void {
  const zone = requireZone(timeZone);
  let cursor = fromMs;
  while (cursor < toMs) {
    const offsetMs = zone.offsetMsAt(cursor);
    const wallMs = cursor + offsetMs;
    const intoHour = ((wallMs % HOUR_MS) + HOUR_MS) % HOUR_MS;
    const end = Math.min(toMs, cursor + HOUR_MS - intoHour);
    if (visit(cursor, end, localSlotOfWall(wallMs, offsetMs).hourOfWeek) === true) return;
    cursor = end;
  }
}

/** Expected inbox checks in [fromMs, toMs). */
export function expectedChecks(recipient: SimRecipient, fromMs: number, toMs: number): number {
  let checks = 0;
  forEachLocalHour(fromMs, toMs, recipient.timeZone, (start, end, slot) => {
    checks += (recipient.truth.checksPerHour[slot]! * (end - start)) / HOUR_MS;
  });
  return checks;
}

/** Ground truth: the chance a send at this instant is opened by a human within the arrival window. */
export function expectedOpen(recipient: SimRecipient, sendAtMs: number): number {
  const windowMs = recipient.truth.arrivalWindowHours * HOUR_MS;
  return 1 - Math.exp(-recipient.truth.openPerCheck * expectedChecks(recipient, sendAtMs, sendAtMs + windowMs));
}

/** Ground truth: the chance a send at this instant is clicked (open within the window, then click). */
export function expectedClick(recipient: SimRecipient, sendAtMs: number): number {
  return expectedOpen(recipient, sendAtMs) * recipient.truth.clickGivenOpen;
}

/**
 * The instants a send in [windowStartMs, windowEndMs] can take: every local top of the hour, plus
 * the window's start (the engine's "now" candidate) and end (chosen when the curve still rises
 * there) when they fall mid-hour.
 */
export function candidateSendTimes(recipient: SimRecipient, windowStartMs: number, windowEndMs: number): number[] {
  const zone = requireZone(recipient.timeZone);
  const times: number[] = [];
  let cursor = windowStartMs;
  while (cursor <= windowEndMs) {
    const wallMs = cursor + zone.offsetMsAt(cursor);
    const intoHour = ((wallMs % HOUR_MS) + HOUR_MS) % HOUR_MS;
    if (intoHour === 0 || cursor === windowStartMs) times.push(cursor);
    cursor += intoHour === 0 ? HOUR_MS : HOUR_MS - intoHour;
  }
  if (times[times.length - 1] !== windowEndMs && windowEndMs > windowStartMs) times.push(windowEndMs);
  return times;
}

/** The best send instant of the window by ground truth, among candidateSendTimes (ties: the earliest). */
export function oracleSlot(recipient: SimRecipient, windowStartMs: number, windowEndMs: number): { sendAtMs: number; expectedOpen: number } {
  let best = { sendAtMs: windowStartMs, expectedOpen: -1 };
  for (const sendAtMs of candidateSendTimes(recipient, windowStartMs, windowEndMs)) {
    const value = expectedOpen(recipient, sendAtMs);
    if (value > best.expectedOpen) best = { sendAtMs, expectedOpen: value };
  }
  return best;
}

/** The SEND event a sender reports for a send (the exposure the model counts beside engagement). */
export function sendEventOf(recipient: SimRecipient, send: SimulatedSend): EngagementEvent {
  const messageId = send.messageId ?? send.scheduleId;
  return event(recipient, send, { eventId: `${messageId}:send`, eventType: 'SEND', occurredAt: send.sendAtMs });
}

/**
 * The engagement a delivered send causes, in time order: DELIVERY seconds after the send; for an
 * Apple Mail Privacy Protection user a machine open seconds after delivery (flagged by the
 * sender, or recognisable by user agent, or only by its timing); a human OPEN at the first inbox
 * check that opens it (up to OPEN_HORIZON_HOURS later); maybe a CLICK a little after the open.
 * Deterministic from (seed, recipient, schedule id).
 */
export function respondToSend(recipient: SimRecipient, send: SimulatedSend, seed: string | number): EngagementEvent[] {
  const rng = new SeededRandom(['respond', seed, recipient.recipientId, send.scheduleId]);
  const messageId = send.messageId ?? send.scheduleId;
  const deliveredAt = send.sendAtMs + Math.round(rng.between(2, 30) * SECOND_MS);
  const events: EngagementEvent[] = [event(recipient, send, { eventId: `${messageId}:delivery`, eventType: 'DELIVERY', occurredAt: deliveredAt })];
  if (recipient.kind === 'mpp' && send.channel === 'EMAIL') {
    const occurredAt = deliveredAt + Math.round(rng.between(0.5, 6) * SECOND_MS);
    const style = rng.below(3);
    events.push(
      event(recipient, send, {
        eventId: `${messageId}:open:proxy`,
        eventType: 'OPEN',
        occurredAt,
        // 0: the sender flags it; 1: only the proxy's user agent tells; 2: only the timing tells.
        machineOpen: style === 0 ? true : null,
        userAgent: style === 1 ? PROXY_USER_AGENT : GENERIC_PROXY_USER_AGENT,
        deliveredAt: style === 1 ? null : deliveredAt,
      }),
    );
  }
  const openAt = firstHumanOpen(recipient, deliveredAt, rng);
  if (openAt !== null) {
    const userAgent = HUMAN_USER_AGENTS[rng.below(HUMAN_USER_AGENTS.length)]!;
    events.push(event(recipient, send, { eventId: `${messageId}:open`, eventType: 'OPEN', occurredAt: openAt, userAgent, deliveredAt }));
    if (rng.chance(recipient.truth.clickGivenOpen)) {
      const clickAt = openAt + Math.round(rng.between(10, 300) * SECOND_MS);
      events.push(event(recipient, send, { eventId: `${messageId}:click`, eventType: 'CLICK', occurredAt: clickAt, userAgent, deliveredAt }));
    }
  }
  return events;
}

/** The first check that opens the message: the first event of the thinned check process. */
function firstHumanOpen(recipient: SimRecipient, deliveredAt: number, rng: SeededRandom): number | null {
  let openAt: number | null = null;
  const perCheck = recipient.truth.openPerCheck;
  forEachLocalHour(deliveredAt, deliveredAt + OPEN_HORIZON_HOURS * HOUR_MS, recipient.timeZone, (start, end, slot) => {
    const rate = perCheck * recipient.truth.checksPerHour[slot]!; // opens per hour
    if (rate <= 0) return false;
    const hours = (end - start) / HOUR_MS;
    const chance = 1 - Math.exp(-rate * hours);
    if (rng.next() >= chance) return false;
    // Time of the first event in the piece, given there is one (inverse of the truncated exponential).
    openAt = start + Math.round((-Math.log(1 - rng.next() * chance) / rate) * HOUR_MS);
    return true;
  });
  if (openAt === null) return null;
  return Math.max(openAt, deliveredAt + HUMAN_MIN_DELAY_MS + rng.below(60) * SECOND_MS);
}

function event(
  recipient: SimRecipient,
  send: SimulatedSend,
  fields: Pick<EngagementEvent, 'eventId' | 'eventType' | 'occurredAt'> & Partial<Pick<EngagementEvent, 'machineOpen' | 'userAgent' | 'deliveredAt'>>,
): EngagementEvent {
  return {
    recipientId: recipient.recipientId,
    channel: send.channel,
    timeZone: recipient.timeZone,
    campaignId: send.campaignId,
    messageId: send.messageId ?? send.scheduleId,
    // What a sender reports back: the send's schedule id, so the outcomes stage attributes it exactly.
    scheduleId: send.scheduleId,
    machineOpen: null,
    userAgent: null,
    deliveredAt: null,
    attributes: { simulated: 'true' },
    ...fields,
  };
}

/** Chance that a click ends in a purchase, and its value (EUR), in the demo's simulated shop. */
export const CONVERSION_GIVEN_CLICK = 0.3;
const CONVERSION_VALUES = [19, 29, 49, 99];

/**
 * The purchase a click may lead to (minutes after it), as a sender reports it: a CONVERSION with
 * the send's schedule id, a value and its currency. Deterministic from (seed, recipient, schedule id).
 */
export function conversionAfter(recipient: SimRecipient, send: SimulatedSend, responses: readonly EngagementEvent[], seed: string | number): EngagementEvent | null {
  const click = responses.find((response) => response.eventType === 'CLICK');
  if (!click) return null;
  const rng = new SeededRandom(['convert', seed, recipient.recipientId, send.scheduleId]);
  if (!rng.chance(CONVERSION_GIVEN_CLICK)) return null;
  const messageId = send.messageId ?? send.scheduleId;
  return {
    ...event(recipient, send, { eventId: `${messageId}:conversion`, eventType: 'CONVERSION', occurredAt: click.occurredAt + Math.round(rng.between(1, 20) * 60 * SECOND_MS) }),
    value: CONVERSION_VALUES[rng.below(CONVERSION_VALUES.length)]!,
    currency: 'EUR',
  };
}
