import { DAY_MS, localWallMs } from './local-slot.ts';
import { LocalTimeKind, resolveLocalWall } from './instant-of-local.ts';
import { requireZone, type ZoneRef } from './time-zone.ts';

/**
 * The first instant at or after `fromMs` at which the local clock of `zone` shows `minuteOfDay`
 * (HH:MM:00.000). On a day where that reading falls in a DST gap, the first instant after the gap
 * stands in for it (same rule as instantOfLocal). In an overlap both occurrences count, so "the
 * next 01:30" after 01:15 EST on US fall-back is 01:30 EST, not the earlier 01:30 EDT.
 */
export function nextLocalMinuteAtOrAfter(fromMs: number, minuteOfDay: number, zone: ZoneRef): number {
  if (!Number.isInteger(minuteOfDay) || minuteOfDay < 0 || minuteOfDay > 1439) {
    throw new RangeError(`minute of day ${minuteOfDay} is outside 0..1439`);
  }
  const offsets = requireZone(zone);
  const day = Math.floor(localWallMs(fromMs, offsets) / DAY_MS);
  // Start a day early: a fall-back at midnight can put "yesterday's" reading after fromMs.
  for (let dayOffset = -1; dayOffset <= 3; dayOffset += 1) {
    const resolution = resolveLocalWall((day + dayOffset) * DAY_MS + minuteOfDay * 60_000, offsets);
    const instants = resolution.kind === LocalTimeKind.GAP ? [resolution.epochMs] : resolution.instantsMs;
    for (const instant of instants) {
      if (instant >= fromMs) return instant;
    }
  }
  throw new RangeError(`no local ${minuteOfDay} minute of day after ${fromMs} in ${offsets.name}`);
}
