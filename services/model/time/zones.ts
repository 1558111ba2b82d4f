import { DAY_MS, HOUR_MS } from './local-slot.ts';
import { requireZone, resolveTimeZone, type ZoneOffsets } from './time-zone.ts';

export { DAY_MS, HOUR_MS, HOURS_PER_WEEK } from './local-slot.ts';

// The ingest path asks for the local slot of every engagement event. Resolving the zone and
// asking Intl for its offset costs microseconds per call; offsets are cached here per zone and
// UTC day, and per quarter hour on transition days. Every zone's transitions fall on quarter
// hours (Lord Howe's half-hour shift included), so the cache is exact.

export type ZoneResolution = { ok: true; zone: string } | { ok: false; reason: string };

/** The normalized zone name ("Europe/Berlin", "UTC+05:45") of a zone given in any accepted form. */
export function resolveZone(zone: string | null | undefined): ZoneResolution {
  const input = zone ?? '';
  let resolved = RESOLVED.get(input);
  if (!resolved) {
    const resolution = resolveTimeZone(input);
    resolved = resolution.ok ? { ok: true, zone: resolution.zone.name } : resolution;
    if (RESOLVED.size > 10_000) RESOLVED.clear();
    RESOLVED.set(input, resolved);
  }
  return resolved;
}

/** Every event names its zone; resolving a name builds Intl objects, so results are memoized. */
const RESOLVED = new Map<string, ZoneResolution>();

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
/** Day entries use negative keys, quarter-hour entries non-negative ones. */
const MAX_CACHED_ENTRIES = 100_000;
const OFFSETS = new Map<string, Map<number, number>>();
/** Resolving a zone name builds Intl objects; names repeat, so each is resolved once. */
const ZONES = new Map<string, ZoneOffsets>();

function zoneOffsets(zone: string): ZoneOffsets {
  let offsets = ZONES.get(zone);
  if (!offsets) {
    offsets = requireZone(zone);
    if (ZONES.size > 10_000) ZONES.clear();
    ZONES.set(zone, offsets);
  }
  return offsets;
}

/**
 * UTC offset in minutes of a normalized zone name at an instant. Per zone and UTC day: when the
 * offsets at the day's start and end agree, the day has no transition (no zone changes twice in
 * a day) and one value serves the whole day; on a transition day, per quarter hour.
 */
export function offsetMinutesAt(epochMs: number, zone: string): number {
  let cache = OFFSETS.get(zone);
  if (!cache) {
    cache = new Map();
    OFFSETS.set(zone, cache);
  }
  const dayKey = -1 - Math.floor(epochMs / DAY_MS);
  let day = cache.get(dayKey);
  if (day === undefined) {
    const startDay = (-1 - dayKey) * DAY_MS;
    const atStart = zoneOffsets(zone).offsetMsAt(startDay) / 60_000;
    const atEnd = zoneOffsets(zone).offsetMsAt(startDay + DAY_MS - 1) / 60_000;
    day = atStart === atEnd ? atStart : Number.NaN;
    if (cache.size > MAX_CACHED_ENTRIES) cache.clear();
    cache.set(dayKey, day);
  }
  if (!Number.isNaN(day)) return day;
  const quarter = Math.floor(epochMs / QUARTER_MS);
  let offset = cache.get(quarter);
  if (offset === undefined) {
    offset = zoneOffsets(zone).offsetMsAt(quarter * QUARTER_MS) / 60_000;
    cache.set(quarter, offset);
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
