import { requireZone, type ZoneRef } from './time-zone.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const HOURS_PER_WEEK = 168;

/** Where an instant falls on the recipient's local clock. */
export interface LocalSlot {
  /** Local hour of week, Monday 00:00-00:59 = 0 ... Sunday 23:00-23:59 = 167. */
  hourOfWeek: number;
  /** Local calendar date, YYYY-MM-DD. */
  localDate: string;
  localHour: number;
  minute: number;
  /** ISO weekday, Monday = 1 ... Sunday = 7. */
  isoWeekday: number;
  /** Local minute of day, 0..1439. */
  minuteOfDay: number;
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
    localDate: new Date(days * DAY_MS).toISOString().slice(0, 10),
    localHour,
    minute,
    isoWeekday,
    minuteOfDay: localHour * 60 + minute,
    offsetMinutes: offsetMs / 60_000,
  };
}

function mod(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}
