import { formatOffset, requireZone, type ZoneRef } from './time-zone.ts';

/** An instant as ISO 8601 local time with its offset, e.g. "2025-03-09T03:00:00.000-04:00". */
export function formatLocalIso(epochMs: number, zone: ZoneRef): string {
  const offsetMs = requireZone(zone).offsetMsAt(epochMs);
  const wall = new Date(epochMs + offsetMs).toISOString();
  return `${wall.slice(0, -1)}${formatOffset(offsetMs)}`;
}
