import type { Channel, EngagementEvent } from '../shared/contracts/record-types.ts';
import type { SimRecipient } from './population.ts';
import { forEachLocalHour, respondToSend, sendEventOf } from './respond.ts';
import { SeededRandom } from './seeded-random.ts';
import { resolveLocalWall } from '../model/time/instant-of-local.ts';

// Past engagement as a sender with a fixed legacy schedule would have logged it: messages went
// out only at the schedule's instants, so opens and clicks exist only after those sends (the
// exposure bias a send-time model must see through). Organic app sessions follow the habit
// wherever it lies.

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** One recurring campaign of the legacy schedule: a weekday and time, on the recipient's clock or on UTC. */
export interface LegacySlot {
  /** ISO weekday, Monday = 1 ... Sunday = 7. */
  isoWeekday: number;
  minuteOfDay: number;
  clock: 'LOCAL' | 'UTC';
}

/** A typical sender: newsletters Tuesday and Thursday 10:00 local, a Saturday offer 09:30 local, a Monday blast at 14:00 UTC. */
export const DEFAULT_LEGACY_SCHEDULE: readonly LegacySlot[] = Object.freeze([
  { isoWeekday: 2, minuteOfDay: 600, clock: 'LOCAL' },
  { isoWeekday: 4, minuteOfDay: 600, clock: 'LOCAL' },
  { isoWeekday: 6, minuteOfDay: 570, clock: 'LOCAL' },
  { isoWeekday: 1, minuteOfDay: 840, clock: 'UTC' },
]);

/** The local minute of day the legacy schedule uses most: the campaigns' default send time. */
export const LEGACY_DEFAULT_LOCAL_MINUTE = 600;

export interface HistoryOptions {
  seed: string | number;
  /** History ends just before this instant (the simulation's start). */
  endMs: number;
  weeks: number;
  schedule?: readonly LegacySlot[];
  channel?: Channel;
}

export interface LegacySendTime {
  sendAtMs: number;
  campaignId: string;
}

/** The instants in [fromMs, toMs) at which the legacy schedule sent to the recipient (not before they joined). */
export function legacySendTimes(recipient: SimRecipient, fromMs: number, toMs: number, schedule: readonly LegacySlot[] = DEFAULT_LEGACY_SCHEDULE): LegacySendTime[] {
  const sends: LegacySendTime[] = [];
  const from = Math.max(fromMs, recipient.joinedAtMs);
  for (let day = Math.floor(fromMs / DAY_MS) - 1; day <= Math.ceil(toMs / DAY_MS) + 1; day++) {
    const isoWeekday = ((((day + 3) % 7) + 7) % 7) + 1;
    const ymd = new Date(day * DAY_MS).toISOString().slice(0, 10);
    schedule.forEach((slot, index) => {
      if (slot.isoWeekday !== isoWeekday) return;
      const wallMs = day * DAY_MS + slot.minuteOfDay * 60_000;
      const sendAtMs = slot.clock === 'UTC' ? wallMs : resolveLocalWall(wallMs, recipient.timeZone).epochMs;
      if (sendAtMs >= from && sendAtMs < toMs) sends.push({ sendAtMs, campaignId: `legacy-${ymd}-${index}` });
    });
  }
  return sends.sort((a, b) => a.sendAtMs - b.sendAtMs);
}

/** Organic app sessions in [fromMs, toMs): a Poisson process at sessionsPerCheck times the check rate. */
export function organicSessions(recipient: SimRecipient, fromMs: number, toMs: number, seed: string | number): EngagementEvent[] {
  const perCheck = recipient.truth.sessionsPerCheck;
  const from = Math.max(fromMs, recipient.joinedAtMs);
  if (perCheck <= 0 || from >= toMs) return [];
  const rng = new SeededRandom(['sessions', seed, recipient.recipientId, from, toMs]);
  const times: number[] = [];
  forEachLocalHour(from, toMs, recipient.timeZone, (start, end, slot) => {
    const mean = (perCheck * recipient.truth.checksPerHour[slot]! * (end - start)) / HOUR_MS;
    for (let count = poisson(mean, rng); count > 0; count--) times.push(start + Math.floor(rng.next() * (end - start)));
  });
  times.sort((a, b) => a - b);
  return times.map((occurredAt, index) => ({
    eventId: `${recipient.recipientId}:session:${occurredAt}:${index}`,
    recipientId: recipient.recipientId,
    channel: 'IN_APP',
    eventType: 'SESSION',
    occurredAt,
    timeZone: recipient.timeZone,
    campaignId: null,
    messageId: null,
    machineOpen: null,
    userAgent: null,
    deliveredAt: null,
    attributes: { simulated: 'true' },
  }));
}

/**
 * The engagement history of the population over the `weeks` before `endMs`, sorted by occurredAt:
 * SEND and DELIVERY of every legacy send, machine opens of MPP users, human opens and clicks
 * drawn from the ground truth, organic sessions. Newcomers have only the days since they joined.
 * Events caused by late sends may fall after endMs (opens arrive up to two days later).
 */
export function generateHistory(recipients: readonly SimRecipient[], options: HistoryOptions): EngagementEvent[] {
  const fromMs = options.endMs - options.weeks * 7 * DAY_MS;
  const channel = options.channel ?? 'EMAIL';
  const events: EngagementEvent[] = [];
  for (const recipient of recipients) {
    for (const { sendAtMs, campaignId } of legacySendTimes(recipient, fromMs, options.endMs, options.schedule)) {
      const send = { sendAtMs, channel, campaignId, scheduleId: `${campaignId}:${recipient.recipientId}` };
      events.push(sendEventOf(recipient, send), ...respondToSend(recipient, send, options.seed));
    }
    events.push(...organicSessions(recipient, fromMs, options.endMs, options.seed));
  }
  return events.sort(byOccurredAt);
}

export function byOccurredAt(a: EngagementEvent, b: EngagementEvent): number {
  return a.occurredAt - b.occurredAt || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0);
}

/** Knuth's multiplication method; means here are small (a few per hour at most). */
function poisson(mean: number, rng: SeededRandom): number {
  if (mean <= 0) return 0;
  const limit = Math.exp(-mean);
  let count = 0;
  let product = rng.next();
  while (product > limit) {
    count++;
    product *= rng.next();
  }
  return count;
}
