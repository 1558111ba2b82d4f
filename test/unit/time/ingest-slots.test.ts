import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { localSlotOf } from '../../../services/model/time/local-slot.ts';
import { resolveTimeZone } from '../../../services/model/time/time-zone.ts';

const zoneName = (spelling: string) => {
  const resolution = resolveTimeZone(spelling);
  return resolution.ok ? resolution.zone.name : null;
};

// Expected slots are worked out by hand from the published transition rules, not computed with
// the library under test. Slot = (ISO weekday - 1) * 24 + local hour; all dates are Sundays, so
// Sunday 01:xx is slot 145, 02:xx slot 146, 03:xx slot 147.
const SUNDAY = 6 * 24;

interface Case {
  utc: string;
  hour: number;
  minute: number;
  offset: number;
}

function check(zone: string, cases: Case[]): void {
  for (const { utc, hour, minute, offset } of cases) {
    const slot = localSlotOf(Date.parse(utc), zone);
    expect({ utc, hourOfWeek: slot.hourOfWeek, minute: slot.minute, offset: slot.offsetMinutes }).toEqual({ utc, hourOfWeek: SUNDAY + hour, minute, offset });
  }
}

describe('engagement events land in the local hour-of-week slot across DST', () => {
  it('America/New_York: 2026-03-08 02:00 EST jumps to 03:00 EDT; 2026-11-01 02:00 EDT falls back to 01:00 EST', () => {
    check('America/New_York', [
      { utc: '2026-03-08T06:59:59Z', hour: 1, minute: 59, offset: -300 },
      { utc: '2026-03-08T07:00:00Z', hour: 3, minute: 0, offset: -240 },
      { utc: '2026-03-08T07:30:00Z', hour: 3, minute: 30, offset: -240 },
      // The 01:00-02:00 hour happens twice; both land in the 01:00 slot.
      { utc: '2026-11-01T05:30:00Z', hour: 1, minute: 30, offset: -240 },
      { utc: '2026-11-01T06:30:00Z', hour: 1, minute: 30, offset: -300 },
      { utc: '2026-11-01T07:00:00Z', hour: 2, minute: 0, offset: -300 },
    ]);
  });

  it('Europe/Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST; 2026-10-25 03:00 CEST falls back to 02:00 CET', () => {
    check('Europe/Berlin', [
      { utc: '2026-03-29T00:59:00Z', hour: 1, minute: 59, offset: 60 },
      { utc: '2026-03-29T01:00:00Z', hour: 3, minute: 0, offset: 120 },
      { utc: '2026-10-25T00:30:00Z', hour: 2, minute: 30, offset: 120 },
      { utc: '2026-10-25T01:30:00Z', hour: 2, minute: 30, offset: 60 },
      { utc: '2026-10-25T02:00:00Z', hour: 3, minute: 0, offset: 60 },
    ]);
  });

  it('Australia/Lord_Howe: half-hour shifts (2026-04-05 02:00 +11 back to 01:30 +10:30; 2026-10-04 02:00 +10:30 on to 02:30 +11)', () => {
    check('Australia/Lord_Howe', [
      { utc: '2026-04-04T14:59:00Z', hour: 1, minute: 59, offset: 660 },
      { utc: '2026-04-04T15:00:00Z', hour: 1, minute: 30, offset: 630 },
      { utc: '2026-04-04T15:29:00Z', hour: 1, minute: 59, offset: 630 },
      { utc: '2026-04-04T15:30:00Z', hour: 2, minute: 0, offset: 630 },
      { utc: '2026-10-03T15:29:00Z', hour: 1, minute: 59, offset: 630 },
      { utc: '2026-10-03T15:30:00Z', hour: 2, minute: 30, offset: 660 },
      { utc: '2026-10-03T16:00:00Z', hour: 3, minute: 0, offset: 660 },
    ]);
  });

  it('fixed offsets and their spellings resolve to one normalized zone', () => {
    for (const spelling of ['+05:45', '+0545', 'UTC+05:45', 'GMT+5:45']) expect(zoneName(spelling)).toBe('UTC+05:45');
    expect(localSlotOf(Date.parse('2026-11-22T18:15:00Z'), 'UTC+05:45')).toMatchObject({ hourOfWeek: 0, minute: 0, offsetMinutes: 345 });
    expect(resolveTimeZone('Mars/Olympus_Mons').ok).toBe(false);
    expect(resolveTimeZone('').ok).toBe(false);
  });

  it('the offset cache answers what the zone database (luxon) answers, at every instant sampled', () => {
    const start = Date.parse('2026-03-01T00:00:00Z');
    for (let i = 0; i < 20_000; i++) {
      const at = start + i * 1_337_000;
      expect(localSlotOf(at, 'Australia/Lord_Howe').offsetMinutes).toBe(DateTime.fromMillis(at, { zone: 'Australia/Lord_Howe' }).offset);
    }
  });
});
