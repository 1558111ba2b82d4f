import { DAY_MS, HOUR_MS } from './local-slot.ts';
import { requireZone, resolveTimeZone } from './time-zone.ts';

export { DAY_MS, HOUR_MS, HOURS_PER_WEEK } from './local-slot.ts';

// The ingest path asks for the local slot of every engagement event. Resolving the zone and
// asking Intl for its offset costs microseconds per call; offsets are cached here per zone and
// UTC quarter hour. Every zone's transitions fall on quarter hours (Lord Howe's half-hour shift
// included), so the cache is exact.

export type ZoneResolution = { ok: true; zone: string } | { ok: false; reason: string };

/** The normalized zone name ("Europe/Berlin", "UTC+05:45") of a zone given in any accepted form. */
export function resolveZone(zone: string | null | undefined): ZoneResolution {
  const resolution = resolveTimeZone(zone ?? '');
  return resolution.ok ? { ok: true, zone: resolution.zone.name } : resolution;
}

export interface LocalSlot {
  /** Monday 00:00 local = 0 ... Sunday 23:00 = 167. */
  hourOfWeek: number;
  /** Days since 1970-01-01 in local time. */
  localDay: number;
  localHour: number;
  minute: number;
  /** UTC offset in minutes at that instant. */
  offsetMinutes: number;
}

const QUARTER_MS = 900_000;
const MAX_CACHED_QUARTERS = 100_000;
const OFFSETS = new Map<string, Map<number, number>>();

/** UTC offset in minutes of a normalized zone name at an instant. */
export function offsetMinutesAt(epochMs: number, zone: string): number {
  let byQuarter = OFFSETS.get(zone);
  if (!byQuarter) {
    byQuarter = new Map();
    OFFSETS.set(zone, byQuarter);
  }
  const quarter = Math.floor(epochMs / QUARTER_MS);
  let offset = byQuarter.get(quarter);
  if (offset === undefined) {
    offset = requireZone(zone).offsetMsAt(quarter * QUARTER_MS) / 60_000;
    if (byQuarter.size > MAX_CACHED_QUARTERS) byQuarter.clear();
    byQuarter.set(quarter, offset);
  }
  return offset;
}

export function localSlotOf(epochMs: number, zone: string): LocalSlot {
  const offsetMinutes = offsetMinutesAt(epochMs, zone);
  const localMs = epochMs + offsetMinutes * 60_000;
  const localDay = Math.floor(localMs / DAY_MS);
  const msOfDay = localMs - localDay * DAY_MS;
  const localHour = Math.floor(msOfDay / HOUR_MS);
  // Day 0 (1970-01-01) was a Thursday; Monday = 0.
  const weekday = (((localDay + 3) % 7) + 7) % 7;
  return { hourOfWeek: weekday * 24 + localHour, localDay, localHour, minute: Math.floor((msOfDay % HOUR_MS) / 60_000), offsetMinutes };
}
