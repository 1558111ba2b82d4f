import { DAY_MS, instantOfLocal, localPartsOf } from './time/zones.ts';

export interface QuietHoursWindow {
  /** Local minute of day, inclusive. */
  startMinute: number;
  /** Local minute of day, exclusive; smaller than startMinute when the range spans midnight. */
  endMinute: number;
}

export function isQuietMinute(minuteOfDay: number, quiet: QuietHoursWindow): boolean {
  const { startMinute, endMinute } = quiet;
  if (startMinute === endMinute) return false;
  return startMinute < endMinute ? minuteOfDay >= startMinute && minuteOfDay < endMinute : minuteOfDay >= startMinute || minuteOfDay < endMinute;
}

export function isQuiet(epochMs: number, zone: string, quiet: QuietHoursWindow | null): boolean {
  if (!quiet) return false;
  const parts = localPartsOf(epochMs, zone);
  return isQuietMinute(parts.hour * 60 + parts.minute, quiet);
}

/** The first instant at or after `epochMs` outside quiet hours (the end of the quiet range). */
export function firstAllowedAtOrAfter(epochMs: number, zone: string, quiet: QuietHoursWindow | null): number {
  if (!quiet || !isQuiet(epochMs, zone, quiet)) return epochMs;
  const parts = localPartsOf(epochMs, zone);
  const minuteOfDay = parts.hour * 60 + parts.minute;
  // The quiet range ends today when we are before its end, otherwise tomorrow (it spans midnight).
  const endsToday = minuteOfDay < quiet.endMinute;
  const day = new Date(Date.UTC(parts.year, parts.month - 1, parts.day) + (endsToday ? 0 : DAY_MS));
  const end = instantOfLocal(
    { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate(), hour: Math.floor(quiet.endMinute / 60), minute: quiet.endMinute % 60 },
    zone,
  );
  return Math.max(end, epochMs);
}
