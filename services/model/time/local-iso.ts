import { DAY_MS, localDateOf } from './local-slot.ts';
import { formatOffset, requireZone, type ZoneRef } from './time-zone.ts';

/** An instant as ISO 8601 local time with its offset, e.g. "2025-03-09T03:00:00.000-04:00". */
export function formatLocalIso(epochMs: number, zone: ZoneRef): string {
  const offsetMs = requireZone(zone).offsetMsAt(epochMs);
  const wallMs = epochMs + offsetMs;
  // Every decision formats its send time: the date from the day count and the clock from the
  // milliseconds of the day, as Date#toISOString would write them, without a Date. Years outside
  // 0000..9999 (and non-integers) take the Date path, which writes them its own way.
  if (!Number.isSafeInteger(wallMs)) return `${new Date(wallMs).toISOString().slice(0, -1)}${offsetText(offsetMs)}`;
  const days = Math.floor(wallMs / DAY_MS);
  const date = localDateOf(days);
  if (date.length !== 10) return `${new Date(wallMs).toISOString().slice(0, -1)}${offsetText(offsetMs)}`;
  const msOfDay = wallMs - days * DAY_MS;
  const hours = Math.floor(msOfDay / 3_600_000);
  const minutes = Math.floor((msOfDay % 3_600_000) / 60_000);
  const seconds = Math.floor((msOfDay % 60_000) / 1_000);
  const millis = msOfDay % 1_000;
  return `${date}T${two(hours)}:${two(minutes)}:${two(seconds)}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}${offsetText(offsetMs)}`;
}

function two(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

// A zone has a handful of offsets: their text is made once.
const OFFSET_TEXT = new Map<number, string>();

function offsetText(offsetMs: number): string {
  let text = OFFSET_TEXT.get(offsetMs);
  if (text === undefined) {
    text = formatOffset(offsetMs);
    if (OFFSET_TEXT.size >= 1_024) OFFSET_TEXT.clear();
    OFFSET_TEXT.set(offsetMs, text);
  }
  return text;
}
