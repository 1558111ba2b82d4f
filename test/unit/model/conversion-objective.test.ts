import { describe, expect, it } from 'vitest';
import { applyEngagement, emptyProfile, type Profile, type Signal } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, scoreSlots, type ModelParams, type Objective } from '../../../services/model/score.ts';

// CONVERSION is scored from the recipient's conversions, shrunk toward their clicks: with many
// conversions their hour wins, with one the click habit stays.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 6); // a Monday; UTC is the local time here
const DAY0 = Math.floor(T0 / DAY);
const weekday = (day: number) => (((DAY0 + day + 3) % 7) + 7) % 7;
const AT = T0 + 42 * DAY; // the Monday after six weeks

function engage(profile: Profile, day: number, hour: number, signal: Signal, minute = 10): void {
  applyEngagement(profile, { slot: weekday(day) * 24 + hour, channel: 'EMAIL', signal, atMs: T0 + day * DAY + hour * HOUR + minute * 60_000, localDay: DAY0 + day }, DEFAULT_MODEL_PARAMS);
}

/** The habit hour whose engagement the best send hour's 2-hour arrival window covers (itself or the hour before). */
function covered(profile: Profile, objective: Objective, params: ModelParams = DEFAULT_MODEL_PARAMS): number[] {
  const hour = bestHour(profile, objective, params);
  return [hour, hour + 1];
}

/** The best local hour of the Monday at AT under an objective. */
function bestHour(profile: Profile, objective: Objective, params: ModelParams = DEFAULT_MODEL_PARAMS): number {
  const { scores } = scoreSlots({ profile, cohort: null, global: null, channel: 'EMAIL', objective, atMs: AT, params });
  let best = 0;
  for (let hour = 1; hour < 24; hour++) if (scores[hour]! > scores[best]!) best = hour;
  return best;
}

describe('the CONVERSION objective', () => {
  it('follows many conversions at one hour (A) where clicks are at another (B), and CLICK stays at B', () => {
    // Every day a click at 09:00 (B, also the day's first engagement); on 30 of 42 days a conversion at 20:00 (A).
    const profile = emptyProfile();
    for (let day = 0; day < 42; day++) {
      engage(profile, day, 9, 'CLICK');
      if (day % 7 !== 3 && day % 7 !== 5) engage(profile, day, 20, 'CONVERSION');
    }
    expect(covered(profile, 'CLICK')).toContain(9);
    expect(covered(profile, 'OPEN')).toContain(9);
    expect(covered(profile, 'CONVERSION')).toContain(20);
  });

  it('stays near the click habit with a single conversion (shrunk toward the clicks)', () => {
    const profile = emptyProfile();
    // Two clicks every morning at 09:00; one conversion, at 20:00 on a Monday (the weekday scored).
    for (let day = 0; day < 42; day++) {
      engage(profile, day, 9, 'CLICK', 10);
      engage(profile, day, 9, 'CLICK', 40);
    }
    engage(profile, 35, 20, 'CONVERSION');
    expect(covered(profile, 'CLICK')).toContain(9);
    expect(covered(profile, 'CONVERSION')).toContain(9);
    // Unshrunk, the one conversion would carry all the clicks' mass to 20:00.
    expect(covered(profile, 'CONVERSION', { ...DEFAULT_MODEL_PARAMS, conversionStrength: 0 })).toContain(20);
  });

  it('is scored as CLICK when there are no conversions at all', () => {
    const profile = emptyProfile();
    for (let day = 0; day < 42; day++) {
      engage(profile, day, 8, 'HUMAN_OPEN');
      engage(profile, day, day % 3 === 0 ? 13 : 14, 'CLICK');
    }
    const click = scoreSlots({ profile, cohort: null, global: null, channel: 'EMAIL', objective: 'CLICK', atMs: AT });
    const conversion = scoreSlots({ profile, cohort: null, global: null, channel: 'EMAIL', objective: 'CONVERSION', atMs: AT });
    for (let slot = 0; slot < 168; slot++) expect(conversion.scores[slot]).toBeCloseTo(click.scores[slot]!, 12);
  });
});
