import type { QuietHours } from '../shared/contracts/record-types.ts';
import { localSlotOf } from './time/local-slot.ts';
import { nextLocalMinuteAtOrAfter } from './time/next-local-time.ts';
import { firstInstantWithOtherOffset } from './time/offset-timeline.ts';
import { requireZone, type ZoneRef } from './time/time-zone.ts';

// Quiet hours are a daily range of local minutes [startMinute, endMinute): 22:00-08:00 is
// { startMinute: 1320, endMinute: 480 } and spans midnight. A range is judged by the minute the
// local clock shows, so it follows DST: on a 23 h day a 22:00-08:00 range lasts 9 real hours.
// startMinute === endMinute is rejected as malformed (ambiguous between "never" and "always");
// "no quiet hours" is null.

export type { QuietHours };

const MINUTES_PER_DAY = 1440;
const MAX_DEFERRALS = 8;

/** Why a quiet-hours value is malformed, or null when it is well-formed. */
export function quietHoursProblem(quietHours: QuietHours): string | null {
  const { startMinute, endMinute } = quietHours;
  for (const [name, value] of [['startMinute', startMinute], ['endMinute', endMinute]] as const) {
    if (!Number.isInteger(value) || value < 0 || value >= MINUTES_PER_DAY) return `quietHours.${name} ${value} is not a minute of day 0..1439`;
  }
  if (startMinute === endMinute) return `quietHours start and end are both ${startMinute}: an empty range (use null for no quiet hours)`;
  return null;
}

/** Whether a local minute of day lies in [start, end), wrapping past midnight when start > end. */
export function isQuietMinute(minuteOfDay: number, quietHours: QuietHours | null): boolean {
  if (quietHours === null) return false;
  const { startMinute, endMinute } = quietHours;
  if (startMinute < endMinute) return minuteOfDay >= startMinute && minuteOfDay < endMinute;
  if (startMinute > endMinute) return minuteOfDay >= startMinute || minuteOfDay < endMinute;
  return false;
}

/** Whether the local clock of `zone` at the instant shows a quiet minute. */
export function isQuiet(epochMs: number, zone: ZoneRef, quietHours: QuietHours | null): boolean {
  if (quietHours === null) return false;
  return isQuietMinute(localSlotOf(epochMs, zone).minuteOfDay, quietHours);
}

/**
 * The first instant at or after `fromMs` outside quiet hours: `fromMs` itself when allowed, else
 * the next time the local clock shows endMinute (when that reading falls in a DST gap, the
 * first instant after the gap, which is past the end as well), or, when the clock is set back
 * to an allowed reading before that, the instant it is set back.
 */
export function firstAllowedAtOrAfter(fromMs: number, zone: ZoneRef, quietHours: QuietHours | null): number {
  if (quietHours === null) return fromMs;
  const offsets = requireZone(zone);
  let candidate = fromMs;
  for (let attempt = 0; attempt < MAX_DEFERRALS; attempt += 1) {
    if (!isQuiet(candidate, offsets, quietHours)) return candidate;
    let next = nextLocalMinuteAtOrAfter(candidate, quietHours.endMinute, offsets);
    // The end reading fell in a DST gap that ends exactly here (e.g. 00:00 on a day that starts
    // at 01:00): look for the next day's reading instead of standing still.
    if (next <= candidate) next = nextLocalMinuteAtOrAfter(candidate + 60_000, quietHours.endMinute, offsets);
    // A clock set back before that reading can leave the range earlier, at the change itself
    // (Havana's quiet 00:01-01:00 on 2025-11-02: at 00:59 CDT the clock goes back to 00:00 CST,
    // which is allowed). Offsets only change at transitions, so look at the first one in between.
    const offsetNow = offsets.offsetMsAt(candidate);
    if (offsets.offsetMsAt(next) !== offsetNow) {
      const change = firstInstantWithOtherOffset((ms) => offsets.offsetMsAt(ms), candidate, next, offsetNow);
      if (change < next && !isQuiet(change, offsets, quietHours)) return change;
    }
    candidate = next;
  }
  throw new RangeError(`no allowed minute after ${fromMs} in ${offsets.name} for quiet hours ${quietHours.startMinute}-${quietHours.endMinute}`);
}
