import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { OffsetTimeline } from '../../../services/model/time/offset-timeline.ts';
import { requireZone } from '../../../services/model/time/time-zone.ts';
import { DAY, transitions, ZONES } from '../decision/fixtures.ts';

const luxonOffsetMs = (epochMs: number, zone: string) => Math.round(DateTime.fromMillis(epochMs, { zone }).offset * 60_000);

describe('the offset cache (one timeline per zone)', () => {
  it('answers what the zone database answers, right at and around every transition of 2024-2026', () => {
    for (const zone of ZONES.filter((name) => name.includes('/'))) {
      const offsets = requireZone(zone);
      for (const transition of transitions(zone)) {
        for (const delta of [-DAY, -3_600_001, -1_000, -1, 0, 1, 1_000, 3_600_000, DAY]) {
          expect({ zone, at: transition + delta, offset: offsets.offsetMsAt(transition + delta) }).toEqual({ zone, at: transition + delta, offset: luxonOffsetMs(transition + delta, zone) });
        }
      }
    }
  });

  it('answers what the zone database answers at random instants of 1900-2100, historical offsets included', () => {
    const zones = [...ZONES.filter((name) => name.includes('/')), 'Africa/Casablanca', 'Asia/Gaza', 'Europe/Dublin', 'America/Caracas', 'Pacific/Apia'];
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2100, 0, 1) }), (zone, at) => {
        expect(requireZone(zone).offsetMsAt(at)).toBe(luxonOffsetMs(at, zone));
      }),
      { numRuns: 2_000 },
    );
  });

  it('finds transitions to the millisecond, off quarter hours too, and asks the database only when building a chunk', () => {
    // A synthetic zone: +1 h, then +2 h from an odd instant, then back to +1 h 40 days later.
    const changeMs = Date.UTC(2025, 2, 30, 1, 7, 13) + 417;
    const backMs = changeMs + 40 * DAY + 123;
    let calls = 0;
    const lookup = (epochMs: number) => {
      calls += 1;
      return epochMs >= changeMs && epochMs < backMs ? 7_200_000 : 3_600_000;
    };
    const timeline = new OffsetTimeline(lookup);
    for (const at of [changeMs - 1, changeMs, changeMs + 1, backMs - 1, backMs, backMs + 1, changeMs - 100 * DAY, backMs + 100 * DAY]) {
      expect({ at, offset: timeline.offsetMsAt(at) }).toEqual({ at, offset: lookup(at) });
    }
    const built = calls;
    for (let at = changeMs - 5 * DAY; at < backMs + 5 * DAY; at += 3_333_331) timeline.offsetMsAt(at);
    expect(calls).toBe(built);
  });
});
