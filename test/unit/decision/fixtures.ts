import fc from 'fast-check';
import { DateTime } from 'luxon';
import type { DecisionContext, DecisionTrigger } from '../../../services/model/decision-types.ts';

export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** DST zones (incl. 30-minute and midnight transitions), odd offsets and fixed offsets. */
export const ZONES = [
  'America/New_York',
  'Europe/Berlin',
  'Australia/Lord_Howe',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'America/St_Johns',
  'America/Santiago',
  'America/Havana',
  'Europe/London',
  'Asia/Tokyo',
  'UTC',
  '+05:45',
  '-03:00',
  'UTC+2',
  'Etc/GMT-5',
  '-09:30',
] as const;

const RANGE_START = Date.UTC(2024, 0, 1);
const RANGE_END = Date.UTC(2027, 0, 1);

/** Offset transitions of a zone in 2024-2026 (to the hour), found with luxon alone. */
function transitionsOf(zone: string): number[] {
  const offsetAt = (t: number) => DateTime.fromMillis(t, { zone }).offset;
  const found: number[] = [];
  for (let day = RANGE_START; day < RANGE_END; day += DAY) {
    if (offsetAt(day) === offsetAt(day + DAY)) continue;
    for (let t = day + HOUR; t <= day + DAY; t += HOUR) {
      if (offsetAt(t) !== offsetAt(t - HOUR)) found.push(t);
    }
  }
  return found;
}

const TRANSITIONS = new Map<string, number[]>(ZONES.map((zone) => [zone, zone.includes('/') ? transitionsOf(zone) : []]));

export function transitions(zone: string): number[] {
  return TRANSITIONS.get(zone) ?? transitionsOf(zone);
}

/** A zone and an instant, half the time within four days of one of the zone's DST transitions. */
export const zoneAndInstant = fc
  .record({
    zone: fc.constantFrom(...ZONES),
    nearTransition: fc.boolean(),
    pick: fc.nat(),
    uniform: fc.integer({ min: RANGE_START, max: RANGE_END - 8 * DAY }),
    shift: fc.integer({ min: -4 * DAY, max: 4 * DAY }),
    jitterMs: fc.constantFrom(0, 0, 1, 999, 30 * 60_000, 59 * 60_000 + 59_999),
  })
  .map(({ zone, nearTransition, pick, uniform, shift, jitterMs }) => {
    const list = transitions(zone);
    const base = nearTransition && list.length > 0 ? list[pick % list.length]! + shift : uniform;
    // Minute-aligned most of the time, with odd milliseconds mixed in.
    return { zone: zone as string, nowMs: Math.floor(base / 60_000) * 60_000 + jitterMs };
  });

export const quietHoursArb = fc.option(
  fc
    .record({ startMinute: fc.integer({ min: 0, max: 1439 }), endMinute: fc.integer({ min: 0, max: 1439 }) })
    .filter((range) => range.startMinute !== range.endMinute),
  { nil: null, freq: 3 },
);

export const scoresArb = fc
  .array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 168, maxLength: 168 })
  .map((values) => Float64Array.from(values));

export function baseTrigger(overrides: Partial<DecisionTrigger> = {}): DecisionTrigger {
  return {
    triggerId: 'trigger-1',
    recipientId: 'recipient-1',
    campaignId: 'campaign-1',
    channel: 'EMAIL',
    triggerKind: 'CAMPAIGN',
    urgency: 'NORMAL',
    occurredAtMs: Date.UTC(2025, 5, 2, 12, 0),
    timeZone: 'UTC',
    windowHours: 24,
    sendAtMs: null,
    quietHours: null,
    defaultLocalMinute: null,
    objective: 'OPEN',
    holdoutShare: null,
    quietHoursPolicy: null,
    ...overrides,
  };
}

export function baseContext(trigger: DecisionTrigger, overrides: Partial<DecisionContext> = {}): DecisionContext {
  return {
    nowMs: trigger.occurredAtMs,
    slotScores: new Float64Array(168).fill(0.1),
    thinHistory: false,
    evidence: { individual: 0.6, cohort: 0.3, global: 0.1 },
    historyDepth: { events: 40, activeDays: 12 },
    learnedTimeZone: null,
    ...overrides,
  };
}

/** Scores that peak at the given local hours of week (value 1 at the first, decreasing). */
export function peakScores(...hoursOfWeek: number[]): Float64Array {
  const scores = new Float64Array(168).fill(0.01);
  hoursOfWeek.forEach((hour, index) => {
    scores[hour] = 1 - index * 0.1;
  });
  return scores;
}

/** Local hour of week of a weekday (1 = Monday) and hour. */
export function hourOfWeek(isoWeekday: number, hour: number): number {
  return (isoWeekday - 1) * 24 + hour;
}

/** Epoch ms of a local wall time read with luxon (its own resolution, for unambiguous times only). */
export function local(iso: string, zone: string): number {
  const parsed = DateTime.fromISO(iso, { zone });
  if (!parsed.isValid) throw new Error(`bad fixture time ${iso} in ${zone}`);
  return parsed.toMillis();
}

/** Top-of-hour instants by brute force: every UTC quarter hour checked with luxon. */
export function bruteForceTopOfHours(fromMs: number, toMs: number, zone: string): number[] {
  const luxonZone = zone.startsWith('+') || zone.startsWith('-') ? `UTC${zone}` : zone;
  const found: number[] = [];
  for (let t = Math.ceil(fromMs / 900_000) * 900_000; t <= toMs; t += 900_000) {
    const reading = DateTime.fromMillis(t, { zone: luxonZone });
    if (reading.minute === 0 && reading.second === 0) found.push(t);
  }
  return found;
}

/**
 * BEST_ALLOWED's choice written out: the best allowed slot by score, except when the best slot
 * of the window is quiet; then the allowed slot whose score plus the following 47 hours' scores,
 * each halved per `halfLifeHours` of waiting in the inbox, is highest (the earliest among equals).
 */
export function inboxOracle<T extends { hourOfWeek: number; score: number; allowed: boolean }>(candidates: readonly T[], scores: Float64Array, halfLifeHours: number): T | undefined {
  const bestBy = (list: readonly T[], value: (slot: T) => number) => list.reduce<T | undefined>((best, slot) => (best === undefined || value(slot) > value(best) ? slot : best), undefined);
  const allowed = candidates.filter((slot) => slot.allowed);
  const overall = bestBy(candidates, (slot) => slot.score);
  if (overall === undefined || overall.allowed || halfLifeHours <= 0) return bestBy(allowed, (slot) => slot.score);
  const factor = 2 ** (-1 / halfLifeHours);
  return bestBy(allowed, (slot) => {
    let value = 0;
    let weight = 1;
    for (let hours = 0; hours < 48; hours++, weight *= factor) {
      const score = scores[(slot.hourOfWeek + hours) % 168]!;
      value += weight * (Number.isFinite(score) ? score : 0);
    }
    return value;
  });
}
