import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { topOfHourSlots } from '../../../services/model/time/hour-slots.ts';
import { instantOfLocal, LocalTimeKind, resolveLocalTime } from '../../../services/model/time/instant-of-local.ts';
import { formatLocalIso } from '../../../services/model/time/local-iso.ts';
import { localDateOf, localSlotOf } from '../../../services/model/time/local-slot.ts';
import { nextLocalMinuteAtOrAfter } from '../../../services/model/time/next-local-time.ts';
import { requireZone, resolveTimeZone } from '../../../services/model/time/time-zone.ts';
import { bruteForceTopOfHours, DAY, HOUR, zoneAndInstant } from './fixtures.ts';

const iso = (ms: number, zone: string) => formatLocalIso(ms, zone);
const utc = (text: string) => Date.parse(text);

describe('time zone resolution', () => {
  it('accepts IANA names as given and normalizes fixed offsets', () => {
    const cases: Array<[string, string, string]> = [
      ['America/New_York', 'America/New_York', 'IANA'],
      ['Australia/Lord_Howe', 'Australia/Lord_Howe', 'IANA'],
      ['Asia/Kathmandu', 'Asia/Kathmandu', 'IANA'],
      ['Etc/GMT-5', 'Etc/GMT-5', 'IANA'],
      ['+05:45', 'UTC+05:45', 'FIXED'],
      ['+0545', 'UTC+05:45', 'FIXED'],
      ['-03:00', 'UTC-03:00', 'FIXED'],
      ['UTC+2', 'UTC+02:00', 'FIXED'],
      ['GMT-3', 'UTC-03:00', 'FIXED'],
      ['UTC-09:30', 'UTC-09:30', 'FIXED'],
      ['UTC+5:45', 'UTC+05:45', 'FIXED'],
      ['UTC', 'UTC', 'FIXED'],
      ['Z', 'UTC', 'FIXED'],
      ['-00:00', 'UTC', 'FIXED'],
    ];
    for (const [input, name, kind] of cases) {
      const resolution = resolveTimeZone(input);
      expect(resolution.ok, input).toBe(true);
      if (resolution.ok) {
        expect(resolution.zone.name).toBe(name);
        expect(resolution.zone.kind).toBe(kind);
      }
    }
  });

  it('rejects unknown and malformed zones with a reason', () => {
    for (const input of ['Mars/Olympus_Mons', '', '   ', 'UTC+15', '+05:75', 'America/New York', 'x'.repeat(80), 'Europe/Berlin/']) {
      const resolution = resolveTimeZone(input);
      expect(resolution.ok, input).toBe(false);
      if (!resolution.ok) expect(resolution.reason.length).toBeGreaterThan(5);
    }
    const unknown = resolveTimeZone('Mars/Olympus_Mons');
    expect(!unknown.ok && unknown.reason).toContain('unknown time zone "Mars/Olympus_Mons"');
    expect(() => requireZone('Mars/Olympus_Mons')).toThrow(RangeError);
  });

  it('gives the same offsets as luxon for IANA zones, Etc/GMT-5 meaning UTC+5', () => {
    const zone = requireZone('Etc/GMT-5');
    expect(zone.offsetMsAt(utc('2025-06-01T00:00:00Z'))).toBe(5 * HOUR);
    expect(requireZone('Asia/Kathmandu').offsetMsAt(utc('2025-06-01T00:00:00Z'))).toBe(5.75 * HOUR);
  });
});

describe('local slot of an instant', () => {
  it('counts hours of week from Monday 00:00 local', () => {
    // 2025-06-02 is a Monday.
    expect(localSlotOf(utc('2025-06-02T00:00:00Z'), 'UTC')).toMatchObject({ hourOfWeek: 0, localDay: Date.UTC(2025, 5, 2) / DAY, localHour: 0, minute: 0, isoWeekday: 1 });
    expect(localSlotOf(utc('2025-06-01T23:59:00Z'), 'UTC')).toMatchObject({ hourOfWeek: 167, localDay: Date.UTC(2025, 5, 1) / DAY, isoWeekday: 7 });
    // Monday 00:10 in Kathmandu is Sunday 18:25 UTC.
    expect(localSlotOf(utc('2025-06-01T18:25:00Z'), 'Asia/Kathmandu')).toMatchObject({ hourOfWeek: 0, localHour: 0, minute: 10, offsetMinutes: 345 });
    expect(localSlotOf(utc('2025-06-01T18:25:00Z'), '+05:45')).toMatchObject({ hourOfWeek: 0, minute: 10 });
    // Before 1970 too.
    expect(localSlotOf(utc('1969-12-29T05:00:00Z'), 'UTC')).toMatchObject({ hourOfWeek: 5, localDay: Date.UTC(1969, 11, 29) / DAY });
  });

  it('agrees with luxon for any zone and instant', () => {
    fc.assert(
      fc.property(zoneAndInstant, ({ zone, nowMs }) => {
        const slot = localSlotOf(nowMs, zone);
        const name = requireZone(zone).name;
        const reading = DateTime.fromMillis(nowMs, { zone: name });
        expect(slot.hourOfWeek).toBe((reading.weekday - 1) * 24 + reading.hour);
        expect(localDateOf(slot.localDay)).toBe(reading.toISODate());
        expect(slot.minute).toBe(reading.minute);
        expect(slot.offsetMinutes).toBe(reading.offset);
        expect(Date.parse(formatLocalIso(nowMs, zone))).toBe(nowMs);
      }),
      { numRuns: 300 },
    );
  });
});

describe('instant of a local time', () => {
  it('America/New_York spring-forward: 02:00-02:59 does not exist and moves forward to 03:00 EDT', () => {
    const zone = 'America/New_York';
    for (const minute of [0, 1, 30, 59]) {
      const resolution = resolveLocalTime({ year: 2025, month: 3, day: 9, hour: 2, minute }, zone);
      expect(resolution.kind).toBe(LocalTimeKind.GAP);
      expect(iso(resolution.epochMs, zone)).toBe('2025-03-09T03:00:00.000-04:00');
      expect(resolution.epochMs).toBe(utc('2025-03-09T07:00:00Z'));
    }
    expect(iso(instantOfLocal({ year: 2025, month: 3, day: 9, hour: 1, minute: 59 }, zone), zone)).toBe('2025-03-09T01:59:00.000-05:00');
    expect(iso(instantOfLocal({ year: 2025, month: 3, day: 9, hour: 3, minute: 0 }, zone), zone)).toBe('2025-03-09T03:00:00.000-04:00');
  });

  it('America/New_York fall-back: 01:00-01:59 happens twice and takes the earlier offset (EDT)', () => {
    const zone = 'America/New_York';
    const resolution = resolveLocalTime({ year: 2025, month: 11, day: 2, hour: 1, minute: 30 }, zone);
    expect(resolution.kind).toBe(LocalTimeKind.OVERLAP);
    expect(resolution.instantsMs).toEqual([utc('2025-11-02T05:30:00Z'), utc('2025-11-02T06:30:00Z')]);
    expect(iso(resolution.epochMs, zone)).toBe('2025-11-02T01:30:00.000-04:00');
    expect(iso(resolveLocalTime({ year: 2025, month: 11, day: 2, hour: 1, minute: 30 }, zone, 'LATER').epochMs, zone)).toBe('2025-11-02T01:30:00.000-05:00');
    expect(iso(instantOfLocal({ year: 2025, month: 11, day: 2, hour: 2, minute: 0 }, zone), zone)).toBe('2025-11-02T02:00:00.000-05:00');
  });

  it('Europe/Berlin: 02:30 on 2025-03-30 becomes 03:00 CEST; 02:30 on 2025-10-26 is 02:30 CEST', () => {
    const zone = 'Europe/Berlin';
    expect(iso(instantOfLocal({ year: 2025, month: 3, day: 30, hour: 2, minute: 30 }, zone), zone)).toBe('2025-03-30T03:00:00.000+02:00');
    const overlap = resolveLocalTime({ year: 2025, month: 10, day: 26, hour: 2, minute: 30 }, zone);
    expect(overlap.kind).toBe(LocalTimeKind.OVERLAP);
    expect(iso(overlap.epochMs, zone)).toBe('2025-10-26T02:30:00.000+02:00');
    expect(overlap.epochMs).toBe(utc('2025-10-26T00:30:00Z'));
  });

  it('Australia/Lord_Howe: a 30-minute gap (02:00-02:29 -> 02:30 +11:00) and a 30-minute overlap (01:30-01:59)', () => {
    const zone = 'Australia/Lord_Howe';
    for (const minute of [0, 15, 29]) {
      const gap = resolveLocalTime({ year: 2025, month: 10, day: 5, hour: 2, minute }, zone);
      expect(gap.kind).toBe(LocalTimeKind.GAP);
      expect(iso(gap.epochMs, zone)).toBe('2025-10-05T02:30:00.000+11:00');
    }
    expect(resolveLocalTime({ year: 2025, month: 10, day: 5, hour: 2, minute: 30 }, zone).kind).toBe(LocalTimeKind.EXACT);
    const overlap = resolveLocalTime({ year: 2025, month: 4, day: 6, hour: 1, minute: 45 }, zone);
    expect(overlap.kind).toBe(LocalTimeKind.OVERLAP);
    expect(iso(overlap.epochMs, zone)).toBe('2025-04-06T01:45:00.000+11:00');
    expect(overlap.instantsMs[1]! - overlap.instantsMs[0]!).toBe(30 * 60_000);
    expect(resolveLocalTime({ year: 2025, month: 4, day: 6, hour: 1, minute: 15 }, zone).kind).toBe(LocalTimeKind.EXACT);
  });

  it('rejects impossible calendar parts instead of rolling them over', () => {
    expect(() => instantOfLocal({ year: 2025, month: 2, day: 29, hour: 0, minute: 0 }, 'UTC')).toThrow(RangeError);
    expect(() => instantOfLocal({ year: 2025, month: 1, day: 1, hour: 24, minute: 0 }, 'UTC')).toThrow(RangeError);
    expect(instantOfLocal({ year: 2024, month: 2, day: 29, hour: 0, minute: 0 }, '+05:45')).toBe(utc('2024-02-28T18:15:00Z'));
  });

  it('round-trips every instant: the local reading maps back to it, or to its earlier twin in an overlap', () => {
    fc.assert(
      fc.property(zoneAndInstant, ({ zone, nowMs }) => {
        const t = Math.floor(nowMs / 60_000) * 60_000;
        const reading = DateTime.fromMillis(t, { zone: requireZone(zone).name });
        const resolution = resolveLocalTime({ year: reading.year, month: reading.month, day: reading.day, hour: reading.hour, minute: reading.minute }, zone);
        expect(resolution.kind).not.toBe(LocalTimeKind.GAP);
        expect(resolution.instantsMs).toContain(t);
        expect(resolution.epochMs).toBe(resolution.instantsMs[0]);
      }),
      { numRuns: 300 },
    );
  });

  it('moves a time in a gap to the first instant after the gap, never earlier than the reading', () => {
    fc.assert(
      fc.property(zoneAndInstant, fc.integer({ min: 0, max: 1439 }), ({ zone, nowMs }, minuteOfDay) => {
        const reading = DateTime.fromMillis(nowMs, { zone: requireZone(zone).name });
        const parts = { year: reading.year, month: reading.month, day: reading.day, hour: Math.floor(minuteOfDay / 60), minute: minuteOfDay % 60 };
        const resolution = resolveLocalTime(parts, zone);
        const offsets = requireZone(zone);
        if (resolution.kind === LocalTimeKind.GAP) {
          // A transition: the offset changes exactly there, and the new reading is later.
          expect(offsets.offsetMsAt(resolution.epochMs - 1)).not.toBe(offsets.offsetMsAt(resolution.epochMs));
          const after = localSlotOf(resolution.epochMs, zone);
          expect(after.localHour * 60 + after.minute).toBeGreaterThan(minuteOfDay);
        } else {
          const slot = localSlotOf(resolution.epochMs, zone);
          expect(slot.localHour * 60 + slot.minute).toBe(minuteOfDay);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('top-of-hour slots', () => {
  it('a 24 h span over the US spring-forward has 23 slots, no 02:00, and 03:00 at 07:00Z', () => {
    const zone = 'America/New_York';
    const start = utc('2025-03-09T05:00:00Z'); // 00:00 EST
    const slots = topOfHourSlots(start, start + 24 * HOUR - 1, zone);
    expect(slots).toHaveLength(24);
    const sameDay = slots.filter((slot) => localDateOf(slot.localDay) === '2025-03-09');
    expect(sameDay).toHaveLength(23);
    expect(sameDay.map((slot) => slot.localHour)).not.toContain(2);
    expect(slots[2]).toMatchObject({ epochMs: utc('2025-03-09T07:00:00Z'), localHour: 3, offsetMinutes: -240 });
  });

  it('a 24 h span over the US fall-back has 01:00 twice, an hour apart, with one hour of week', () => {
    const zone = 'America/New_York';
    const start = utc('2025-11-02T04:00:00Z'); // 00:00 EDT
    const slots = topOfHourSlots(start, start + 25 * HOUR - 1, zone);
    const sameDay = slots.filter((slot) => localDateOf(slot.localDay) === '2025-11-02');
    expect(sameDay).toHaveLength(25);
    const ones = sameDay.filter((slot) => slot.localHour === 1);
    expect(ones.map((slot) => slot.epochMs)).toEqual([utc('2025-11-02T05:00:00Z'), utc('2025-11-02T06:00:00Z')]);
    expect(ones[0]!.hourOfWeek).toBe(ones[1]!.hourOfWeek);
  });

  it('Europe/Berlin: 23 slots on 2025-03-30, 25 on 2025-10-26', () => {
    const zone = 'Europe/Berlin';
    const count = (date: string) => {
      const start = utc(`${date}T00:00:00Z`) - 3 * HOUR;
      return topOfHourSlots(start, start + 30 * HOUR, zone).filter((slot) => localDateOf(slot.localDay) === date).length;
    };
    expect(count('2025-03-30')).toBe(23);
    expect(count('2025-10-26')).toBe(25);
    expect(count('2025-06-01')).toBe(24);
  });

  it('Australia/Lord_Howe: slots sit at :30 UTC at +10:30 and at :00 UTC at +11:00', () => {
    const zone = 'Australia/Lord_Howe';
    const start = utc('2025-10-04T13:00:00Z'); // 23:30 local, Saturday
    const slots = topOfHourSlots(start, start + 6 * HOUR, zone);
    expect(slots.map((slot) => iso(slot.epochMs, zone))).toEqual([
      '2025-10-05T00:00:00.000+10:30',
      '2025-10-05T01:00:00.000+10:30',
      '2025-10-05T03:00:00.000+11:00',
      '2025-10-05T04:00:00.000+11:00',
      '2025-10-05T05:00:00.000+11:00',
      '2025-10-05T06:00:00.000+11:00',
    ]);
    expect(slots.map((slot) => new Date(slot.epochMs).getUTCMinutes())).toEqual([30, 30, 0, 0, 0, 0]);
    // The day the shift ends: 01:30-01:59 repeats, 02:00 happens once (at +10:30).
    const end = topOfHourSlots(utc('2025-04-05T12:00:00Z'), utc('2025-04-05T18:00:00Z'), zone);
    expect(end.map((slot) => iso(slot.epochMs, zone))).toEqual([
      '2025-04-05T23:00:00.000+11:00',
      '2025-04-06T00:00:00.000+11:00',
      '2025-04-06T01:00:00.000+11:00',
      '2025-04-06T02:00:00.000+10:30',
      '2025-04-06T03:00:00.000+10:30',
      '2025-04-06T04:00:00.000+10:30',
    ]);
  });

  it('Asia/Kathmandu and +05:45: slots at :15 past the UTC hour', () => {
    for (const zone of ['Asia/Kathmandu', '+05:45']) {
      const slots = topOfHourSlots(utc('2025-06-02T00:00:00Z'), utc('2025-06-03T00:00:00Z'), zone);
      expect(slots).toHaveLength(24);
      expect(new Set(slots.map((slot) => new Date(slot.epochMs).getUTCMinutes()))).toEqual(new Set([15]));
    }
  });

  it('includes both ends and returns nothing for an empty range', () => {
    const at = utc('2025-06-02T10:00:00Z');
    expect(topOfHourSlots(at, at, 'UTC').map((slot) => slot.epochMs)).toEqual([at]);
    expect(topOfHourSlots(at + 1, at + HOUR - 1, 'UTC')).toEqual([]);
    expect(topOfHourSlots(at + 1, at + HOUR, 'UTC').map((slot) => slot.epochMs)).toEqual([at + HOUR]);
  });

  it('finds exactly the instants at which the local clock shows HH:00 (brute force with luxon)', () => {
    fc.assert(
      fc.property(zoneAndInstant, fc.integer({ min: 1, max: 168 }), ({ zone, nowMs }, hours) => {
        const end = nowMs + hours * HOUR;
        const expected = bruteForceTopOfHours(nowMs, end, requireZone(zone).name);
        expect(topOfHourSlots(nowMs, end, zone).map((slot) => slot.epochMs)).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe('next local minute', () => {
  it('is the next time the clock shows the reading, counting both halves of an overlap', () => {
    const zone = 'America/New_York';
    // 01:15 EST (the second 01:15): the next 01:30 is 01:30 EST, not the past 01:30 EDT.
    expect(iso(nextLocalMinuteAtOrAfter(utc('2025-11-02T06:15:00Z'), 90, zone), zone)).toBe('2025-11-02T01:30:00.000-05:00');
    expect(iso(nextLocalMinuteAtOrAfter(utc('2025-11-02T05:15:00Z'), 90, zone), zone)).toBe('2025-11-02T01:30:00.000-04:00');
    // In a gap: the first instant after it.
    expect(iso(nextLocalMinuteAtOrAfter(utc('2025-03-09T05:00:00Z'), 150, zone), zone)).toBe('2025-03-09T03:00:00.000-04:00');
    // At the reading itself: that instant.
    const tenAm = utc('2025-06-02T14:00:00Z');
    expect(nextLocalMinuteAtOrAfter(tenAm, 600, zone)).toBe(tenAm);
    expect(nextLocalMinuteAtOrAfter(tenAm + 1, 600, zone)).toBe(tenAm + DAY);
  });

  it('is at or after the start, shows the minute (or ends a gap), and nothing in between shows it', () => {
    fc.assert(
      fc.property(zoneAndInstant, fc.integer({ min: 0, max: 95 }).map((quarter) => quarter * 15), ({ zone, nowMs }, minuteOfDay) => {
        const next = nextLocalMinuteAtOrAfter(nowMs, minuteOfDay, zone);
        expect(next).toBeGreaterThanOrEqual(nowMs);
        expect(next - nowMs).toBeLessThanOrEqual(DAY + 2 * HOUR);
        const name = requireZone(zone).name;
        const reading = DateTime.fromMillis(next, { zone: name });
        const shown = reading.hour * 60 + reading.minute;
        if (shown !== minuteOfDay) expect(DateTime.fromMillis(next - 1, { zone: name }).offset).not.toBe(reading.offset);
        for (let t = Math.ceil(nowMs / 900_000) * 900_000; t < next; t += 900_000) {
          const between = DateTime.fromMillis(t, { zone: name });
          expect(between.hour * 60 + between.minute).not.toBe(minuteOfDay);
        }
      }),
      { numRuns: 150 },
    );
  });
});
