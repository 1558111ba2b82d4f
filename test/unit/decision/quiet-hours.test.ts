import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstAllowedAtOrAfter, isQuiet, isQuietMinute, quietHoursProblem } from '../../../services/model/quiet-hours.ts';
import { formatLocalIso } from '../../../services/model/time/local-iso.ts';
import { localSlotOf } from '../../../services/model/time/local-slot.ts';
import { requireZone } from '../../../services/model/time/time-zone.ts';
import { DAY, HOUR, quietHoursArb, zoneAndInstant } from './fixtures.ts';

const night = { startMinute: 22 * 60, endMinute: 8 * 60 };
const utc = (text: string) => Date.parse(text);

describe('quiet hours', () => {
  it('spans midnight when start > end, [start, end)', () => {
    expect(isQuietMinute(22 * 60, night)).toBe(true);
    expect(isQuietMinute(23 * 60 + 59, night)).toBe(true);
    expect(isQuietMinute(0, night)).toBe(true);
    expect(isQuietMinute(7 * 60 + 59, night)).toBe(true);
    expect(isQuietMinute(8 * 60, night)).toBe(false);
    expect(isQuietMinute(21 * 60 + 59, night)).toBe(false);
    const lunch = { startMinute: 12 * 60, endMinute: 13 * 60 };
    expect(isQuietMinute(12 * 60, lunch)).toBe(true);
    expect(isQuietMinute(13 * 60, lunch)).toBe(false);
    expect(isQuietMinute(11 * 60, lunch)).toBe(false);
    expect(isQuietMinute(0, null)).toBe(false);
  });

  it('reports malformed ranges', () => {
    expect(quietHoursProblem(night)).toBeNull();
    expect(quietHoursProblem({ startMinute: 600, endMinute: 600 })).toMatch(/empty range/);
    expect(quietHoursProblem({ startMinute: -1, endMinute: 600 })).toMatch(/startMinute/);
    expect(quietHoursProblem({ startMinute: 0, endMinute: 1440 })).toMatch(/endMinute/);
    expect(quietHoursProblem({ startMinute: 1.5, endMinute: 600 })).toMatch(/startMinute/);
  });

  it('judges the local clock of the zone', () => {
    // 23:30 in Berlin (summer) is 21:30 UTC.
    expect(isQuiet(utc('2025-06-02T21:30:00Z'), 'Europe/Berlin', night)).toBe(true);
    expect(isQuiet(utc('2025-06-02T21:30:00Z'), 'UTC', night)).toBe(false);
    expect(isQuiet(utc('2025-06-02T21:30:00Z'), 'Europe/Berlin', null)).toBe(false);
  });

  it('first allowed instant: the instant itself, or the local end of the quiet range', () => {
    const zone = 'Europe/Berlin';
    const allowed = utc('2025-06-02T10:00:00Z');
    expect(firstAllowedAtOrAfter(allowed, zone, night)).toBe(allowed);
    expect(formatLocalIso(firstAllowedAtOrAfter(utc('2025-06-02T21:30:00Z'), zone, night), zone)).toBe('2025-06-03T08:00:00.000+02:00');
    expect(formatLocalIso(firstAllowedAtOrAfter(utc('2025-06-03T03:00:00Z'), zone, night), zone)).toBe('2025-06-03T08:00:00.000+02:00');
    expect(firstAllowedAtOrAfter(utc('2025-06-03T03:00:00Z'), zone, null)).toBe(utc('2025-06-03T03:00:00Z'));
  });

  it('follows DST: quiet 22:00-02:30 on US spring-forward ends at 03:00 EDT (02:30 does not exist)', () => {
    const zone = 'America/New_York';
    const quiet = { startMinute: 22 * 60, endMinute: 150 };
    expect(formatLocalIso(firstAllowedAtOrAfter(utc('2025-03-09T05:30:00Z'), zone, quiet), zone)).toBe('2025-03-09T03:00:00.000-04:00');
  });

  it('follows DST: quiet 00:00-01:30 on US fall-back lets 01:30 EDT out, then 01:00 EST is quiet again', () => {
    const zone = 'America/New_York';
    const quiet = { startMinute: 0, endMinute: 90 };
    expect(formatLocalIso(firstAllowedAtOrAfter(utc('2025-11-02T04:30:00Z'), zone, quiet), zone)).toBe('2025-11-02T01:30:00.000-04:00');
    expect(isQuiet(utc('2025-11-02T06:10:00Z'), zone, quiet)).toBe(true);
    expect(formatLocalIso(firstAllowedAtOrAfter(utc('2025-11-02T06:10:00Z'), zone, quiet), zone)).toBe('2025-11-02T01:30:00.000-05:00');
  });

  it('Lord Howe: quiet 23:00-02:15 on the spring-forward night ends at 02:30 +11:00', () => {
    const zone = 'Australia/Lord_Howe';
    const quiet = { startMinute: 23 * 60, endMinute: 135 };
    expect(formatLocalIso(firstAllowedAtOrAfter(utc('2025-10-04T13:00:00Z'), zone, quiet), zone)).toBe('2025-10-05T02:30:00.000+11:00');
  });

  it('the first allowed instant is allowed, not before t, and nothing allowed lies in between', () => {
    fc.assert(
      fc.property(zoneAndInstant, quietHoursArb, ({ zone, nowMs }, quiet) => {
        const offsets = requireZone(zone);
        const first = firstAllowedAtOrAfter(nowMs, offsets, quiet);
        expect(first).toBeGreaterThanOrEqual(nowMs);
        expect(isQuiet(first, offsets, quiet)).toBe(false);
        expect(first - nowMs).toBeLessThan(DAY + 2 * HOUR);
        if (first > nowMs) {
          for (let t = Math.ceil(nowMs / 60_000) * 60_000; t < first; t += 60_000) expect(isQuiet(t, offsets, quiet)).toBe(true);
          const reading = localSlotOf(first, offsets);
          // Either the clock shows the end minute, or a DST jump skipped over it.
          if (reading.minuteOfDay !== quiet!.endMinute) expect(offsets.offsetMsAt(first - 1)).not.toBe(offsets.offsetMsAt(first));
        }
      }),
      { numRuns: 120 },
    );
  });

  it('lets the send out when the clock is set back out of quiet hours before their end (Havana, 2025-11-02; found by the property above)', () => {
    const start = 1_762_059_540_000; // 04:59Z = 00:59 CDT; at 05:00Z Havana goes back to 00:00 CST
    const allowed = firstAllowedAtOrAfter(start, 'America/Havana', { startMinute: 1, endMinute: 60 });
    expect(new Date(allowed).toISOString()).toBe('2025-11-02T05:00:00.000Z');
  });

  it('finds the next day when the end of quiet hours falls in a DST gap that ends at the start instant (Havana, 2024-03-10)', () => {
    const start = 1_710_046_800_000; // 05:00Z: Havana jumps from 00:00 CST to 01:00 CDT
    const allowed = firstAllowedAtOrAfter(start, 'America/Havana', { startMinute: 1, endMinute: 0 });
    expect(new Date(allowed).toISOString()).toBe('2024-03-11T04:00:00.000Z');
  });
});
