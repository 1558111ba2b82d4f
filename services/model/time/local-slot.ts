import { requireZone, type ZoneRef } from './time-zone.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const HOURS_PER_WEEK = 168;

/**
 * Where an instant falls on the recipient's local clock: what ingest counts an event under, and
 * what a decision scores a slot by.
 */
export interface LocalSlot {
  /** Local hour of week, Monday 00:00-00:59 = 0 ... Sunday 23:00-23:59 = 167. */
  hourOfWeek: number;
  /** Local calendar day as days since 1970-01-01 (localDateOf gives YYYY-MM-DD). */
  localDay: number;
  localHour: number;
  minute: number;
  /** ISO weekday, Monday = 1 ... Sunday = 7. */
  isoWeekday: number;
  /** Local minute of day, 0..1439. */
  minuteOfDay: number;
  /** UTC offset in minutes at that instant. */
  offsetMinutes: number;
}

/** The local slot of an instant in a zone. */
export function localSlotOf(epochMs: number, zone: ZoneRef): LocalSlot {
  const offsetMs = requireZone(zone).offsetMsAt(epochMs);
  return localSlotOfWall(epochMs + offsetMs, offsetMs);
}

/**
 * Local wall-clock time of an instant, as the epoch milliseconds of the same clock reading in UTC
 * (the representation all local arithmetic here uses).
 */
export function localWallMs(epochMs: number, zone: ZoneRef): number {
  return epochMs + requireZone(zone).offsetMsAt(epochMs);
}

export function localSlotOfWall(wallMs: number, offsetMs: number): LocalSlot {
  const days = Math.floor(wallMs / DAY_MS);
  const msOfDay = wallMs - days * DAY_MS;
  // 1970-01-01 was a Thursday (ISO weekday 4).
  const isoWeekday = mod(days + 3, 7) + 1;
  const localHour = Math.floor(msOfDay / HOUR_MS);
  const minute = Math.floor((msOfDay % HOUR_MS) / 60_000);
  return {
    hourOfWeek: (isoWeekday - 1) * 24 + localHour,
    localDay: days,
    localHour,
    minute,
    isoWeekday,
    minuteOfDay: localHour * 60 + minute,
    offsetMinutes: offsetMs / 60_000,
  };
}

/** localSlotOfWall(wallMs, offset).hourOfWeek, without the slot object. */
export function hourOfWeekOfWall(wallMs: number): number {
  const days = Math.floor(wallMs / DAY_MS);
  return mod(days + 3, 7) * 24 + Math.floor((wallMs - days * DAY_MS) / HOUR_MS);
}

/** YYYY-MM-DD of a day count since 1970-01-01 (proleptic Gregorian; Hinnant's days-to-civil). */
export function localDateOf(days: number): string {
  const shifted = days + 719_468;
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) return new Date(days * DAY_MS).toISOString().slice(0, -14);
  return `${String(year).padStart(4, '0')}-${month < 10 ? '0' : ''}${month}-${day < 10 ? '0' : ''}${day}`;
}

function mod(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}
