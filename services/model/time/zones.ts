import { DateTime, Info, IANAZone, FixedOffsetZone, type Zone } from 'luxon';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const HOURS_PER_WEEK = 168;

export type ZoneResolution = { ok: true; zone: string } | { ok: false; reason: string };

const FIXED_OFFSET = /^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$/i;

/**
 * Accepts IANA names ("Europe/Berlin", "Etc/GMT-5") and fixed offsets ("+05:45", "-03:00",
 * "UTC+2"); returns the zone name luxon understands, or why it is not a zone.
 */
export function resolveZone(zone: string | null | undefined): ZoneResolution {
  if (!zone || zone.trim() === '') return { ok: false, reason: 'empty time zone' };
  const trimmed = zone.trim();
  const fixed = FIXED_OFFSET.exec(trimmed);
  if (fixed) {
    const hours = Number(fixed[2]);
    const minutes = Number(fixed[3] ?? '0');
    if (hours > 14 || minutes > 59) return { ok: false, reason: `offset ${trimmed} is out of range` };
    return { ok: true, zone: `UTC${fixed[1]}${hours}${minutes ? `:${String(minutes).padStart(2, '0')}` : ''}` };
  }
  if (/^(UTC|GMT|Z)$/i.test(trimmed)) return { ok: true, zone: 'UTC' };
  if (!ZONES.has(trimmed) && !Info.isValidIANAZone(trimmed)) return { ok: false, reason: `unknown time zone "${trimmed}"` };
  return { ok: true, zone: trimmed };
}

const ZONES = new Map<string, Zone>();

/** Zone objects are memoized: luxon validates a zone name on every use otherwise. */
function zoneObject(name: string): Zone {
  let zone = ZONES.get(name);
  if (!zone) {
    zone = name.startsWith('UTC') && name !== 'UTC' ? (FixedOffsetZone.parseSpecifier(name) ?? IANAZone.create(name)) : IANAZone.create(name);
    if (ZONES.size > 10_000) ZONES.clear();
    ZONES.set(name, zone);
  }
  return zone;
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
const OFFSETS = new Map<string, Map<number, number>>();

/**
 * UTC offset at an instant, cached per zone and UTC quarter hour: every zone's transitions fall
 * on quarter hours (Lord Howe's half-hour shift included), so the cache is exact.
 */
export function offsetMinutesAt(epochMs: number, zone: string): number {
  let byQuarter = OFFSETS.get(zone);
  if (!byQuarter) {
    byQuarter = new Map();
    OFFSETS.set(zone, byQuarter);
  }
  const quarter = Math.floor(epochMs / QUARTER_MS);
  let offset = byQuarter.get(quarter);
  if (offset === undefined) {
    offset = DateTime.fromMillis(quarter * QUARTER_MS, { zone: zoneObject(zone) }).offset;
    if (byQuarter.size > 100_000) byQuarter.clear();
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

export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/**
 * The instant of a local wall time. A time that does not exist (DST gap) moves forward by the
 * length of the gap (02:30 on a US spring-forward day is 03:30 daylight time); a time that
 * exists twice (overlap) takes the earlier offset, i.e. the first occurrence.
 */
export function instantOfLocal(parts: LocalParts, zone: string): number {
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute);
  const before = offsetMinutesAt(wall - DAY_MS, zone) * 60_000;
  const after = offsetMinutesAt(wall + DAY_MS, zone) * 60_000;
  const candidates = [...new Set([wall - before, wall - after])]
    .filter((instant) => instant + offsetMinutesAt(instant, zone) * 60_000 === wall)
    .sort((a, b) => a - b);
  if (candidates.length > 0) return candidates[0]!;
  // In a gap: read the wall time with the offset in force before the transition.
  return wall - before;
}

/** Local calendar parts of an instant. */
export function localPartsOf(epochMs: number, zone: string): LocalParts {
  const local = DateTime.fromMillis(epochMs, { zone: zoneObject(zone) });
  return { year: local.year, month: local.month, day: local.day, hour: local.hour, minute: local.minute };
}

/** ISO 8601 with offset, in the zone. */
export function localIso(epochMs: number, zone: string): string {
  return DateTime.fromMillis(epochMs, { zone: zoneObject(zone) }).toISO({ suppressMilliseconds: true }) ?? new Date(epochMs).toISOString();
}

export interface CandidateSlot {
  sendAt: number;
  hourOfWeek: number;
}

/**
 * Top-of-hour local instants in [fromMs, toMs], in order. Works for zones whose offsets are not
 * whole hours (Asia/Kathmandu) and across transitions, including 30-minute ones (Lord Howe).
 */
export function candidateSlots(fromMs: number, toMs: number, zone: string): CandidateSlot[] {
  const slots: CandidateSlot[] = [];
  let local = DateTime.fromMillis(fromMs, { zone: zoneObject(zone) });
  let instant = fromMs;
  if (local.minute !== 0 || local.second !== 0 || local.millisecond !== 0) {
    instant = fromMs - (local.minute * 60_000 + local.second * 1_000 + local.millisecond) + HOUR_MS;
  }
  while (instant <= toMs) {
    local = DateTime.fromMillis(instant, { zone: zoneObject(zone) });
    if (local.minute !== 0) {
      // An offset change of a fraction of an hour: move to the next local top of the hour.
      instant += (60 - local.minute) * 60_000;
      continue;
    }
    slots.push({ sendAt: instant, hourOfWeek: (local.weekday - 1) * 24 + local.hour });
    instant += HOUR_MS;
  }
  return slots;
}
