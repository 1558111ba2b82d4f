import { describe, expect, it } from 'vitest';
import { formatLocalIso } from '../../../services/model/time/local-iso.ts';
import { formatOffset, requireZone } from '../../../services/model/time/time-zone.ts';

/** What formatLocalIso wrote with a Date: the reference its faster form must equal. */
function viaDate(epochMs: number, zoneName: string): string {
  const offsetMs = requireZone(zoneName).offsetMsAt(epochMs);
  return `${new Date(epochMs + offsetMs).toISOString().slice(0, -1)}${formatOffset(offsetMs)}`;
}

describe('formatLocalIso', () => {
  const zones = ['UTC', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Africa/Monrovia', 'UTC-03:30', 'Pacific/Kiritimati'];

  it('writes what Date#toISOString writes, with the offset, across DST, odd offsets, milliseconds and the ends of years 0000..9999', () => {
    const instants = [0, -1, 1, 999, 1_000, Date.UTC(2025, 2, 9, 7, 0), Date.UTC(2025, 10, 2, 5, 59, 59, 999), Date.UTC(1972, 0, 1) - 1, -62_167_219_200_000, 253_402_300_799_999];
    // A fixed pseudo-random spread over 1846..2096 with millisecond parts.
    for (let index = 0, seed = 12_345; index < 3_000; index++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      instants.push(Math.round((seed / 2_147_483_648 - 0.5) * 1.58e13) + (index % 1_000));
    }
    for (const zone of zones) {
      for (const epochMs of instants) expect(formatLocalIso(epochMs, zone), `${epochMs} in ${zone}`).toBe(viaDate(epochMs, zone));
    }
  });

  it('writes years past 9999 as Date does', () => {
    expect(formatLocalIso(253_402_300_800_000, 'UTC')).toBe('+010000-01-01T00:00:00.000+00:00');
  });
});
