import { describe, expect, it } from 'vitest';
import { applyEngagement, decayTo, decodeProfile, emptyProfile, encodeProfile, type Profile, type Signal } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, scoreSlots, type ModelParams, type Objective } from '../../../services/model/score.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 6); // a Monday; the tests use UTC as local time
const DAY0 = Math.floor(T0 / DAY);
const weekday = (day: number) => (((DAY0 + day + 3) % 7) + 7) % 7;

/** Scores are evaluated on the Monday after ten weeks of history, at 00:00. */
const AT = T0 + 70 * DAY;
const MONDAY = 0;

function engage(profile: Profile, day: number, hour: number, signal: Signal = 'SESSION', params: ModelParams = DEFAULT_MODEL_PARAMS, minute = 10): { firstOfDay: boolean } {
  return applyEngagement(profile, { slot: weekday(day) * 24 + hour, channel: 'EMAIL', signal, atMs: T0 + day * DAY + hour * HOUR + minute * 60_000, localDay: DAY0 + day }, params);
}

/** An aggregate (cohort or global) of `recipients` recipients whose first engagement each day is at `hour`. */
function aggregate(hour: number, recipients: number, days = 70): Profile {
  const profile = emptyProfile();
  const params = { ...DEFAULT_MODEL_PARAMS, refGranularityMs: DAY };
  for (let day = 0; day < days; day++) {
    for (let r = 0; r < recipients; r++) {
      applyEngagement(profile, { slot: weekday(day) * 24 + hour, channel: 'EMAIL', signal: 'SESSION', atMs: T0 + day * DAY + hour * HOUR, localDay: DAY0 + day, firstOfDay: true }, params);
    }
  }
  return profile;
}

function score(profile: Profile, cohort: Profile | null, global: Profile | null, objective: Objective = 'OPEN', params: ModelParams = DEFAULT_MODEL_PARAMS) {
  return scoreSlots({ profile, cohort, global, channel: 'EMAIL', objective, atMs: AT, params });
}

function bestHour(scores: Float64Array, day = MONDAY): number {
  let best = 0;
  for (let hour = 1; hour < 24; hour++) if (scores[day * 24 + hour]! > scores[day * 24 + best]!) best = hour;
  return best;
}

const cohort = aggregate(20, 30);
const global = aggregate(9, 100);

describe('shrinkage', () => {
  it('gives a recipient with no history the cohort curve, and the global one without a cohort', () => {
    const nobody = emptyProfile();
    const withCohort = score(nobody, cohort, global);
    expect([19, 20]).toContain(bestHour(withCohort.scores));
    expect(withCohort.evidence.individual).toBe(0);
    expect(withCohort.evidence.cohort).toBeGreaterThan(0.9);
    const withoutCohort = score(nobody, null, global);
    expect([8, 9]).toContain(bestHour(withoutCohort.scores));
    expect(withoutCohort.evidence.global).toBe(1);
    // The curve is the prior's own: the same slot masses as a recipient scored with the prior alone.
    let sum = 0;
    for (const value of withCohort.slotMass) sum += value;
    expect(sum).toBeCloseTo(1, 9);
  });

  it('lets a strong individual habit win over the prior', () => {
    const regular = emptyProfile();
    for (let day = 0; day < 60; day++) engage(regular, day, 7);
    const scored = score(regular, cohort, global);
    expect([6, 7]).toContain(bestHour(scored.scores));
    expect(scored.evidence.individual).toBeGreaterThan(0.9);
  });

  it('keeps a single day of history close to the prior', () => {
    const newcomer = emptyProfile();
    engage(newcomer, 69, 7);
    expect([19, 20]).toContain(bestHour(score(newcomer, cohort, global).scores));
  });

  it('integrates the predicted engagement over the arrival window', () => {
    const regular = emptyProfile();
    for (let day = 0; day < 30; day++) engage(regular, day, 7 + (day % 3));
    for (const arrivalWindowHours of [1, 2, 4]) {
      const params = { ...DEFAULT_MODEL_PARAMS, arrivalWindowHours };
      const { scores, slotMass } = score(regular, cohort, global, 'OPEN', params);
      for (let slot = 0; slot < 168; slot++) {
        let sum = 0;
        for (let k = 0; k < arrivalWindowHours; k++) sum += slotMass[(slot + k) % 168]!;
        expect(scores[slot]).toBeCloseTo(Math.min(1, sum), 12);
      }
    }
  });
});

describe('signals', () => {
  function habit(): Profile {
    const profile = emptyProfile();
    for (let day = 0; day < 40; day++) engage(profile, day, 9, 'HUMAN_OPEN');
    return profile;
  }

  it('never lets machine opens move the scores', () => {
    const before = habit();
    const reference = score(before, cohort, global);
    const after = decodeProfile(encodeProfile(before));
    // At the time of the latest human engagement (no decay in between): exactly the same scores.
    for (let i = 0; i < 30; i++) applyEngagement(after, { slot: weekday(39) * 24 + 9, channel: 'EMAIL', signal: 'MACHINE_OPEN', atMs: after.refMs, localDay: DAY0 + 39 }, DEFAULT_MODEL_PARAMS);
    expect(Array.from(score(after, cohort, global).scores)).toEqual(Array.from(reference.scores));
    // On later days, at another hour: no new active day, no first engagement, no recent activity.
    // The reference is the same profile only moved to the same reference times (the codec rounds
    // decayed values on each move), so what remains is the machine opens' own effect: none.
    const moved = decodeProfile(encodeProfile(after));
    for (let day = 40; day < 69; day++) {
      engage(after, day, 3, 'MACHINE_OPEN');
      decayTo(moved, T0 + day * DAY + 3 * HOUR + 10 * 60_000, DEFAULT_MODEL_PARAMS);
    }
    expect(after.activeDays).toBe(before.activeDays);
    expect(after.lastEngagedMs).toBe(before.lastEngagedMs);
    expect(after.lastEngagedSlot).toBe(before.lastEngagedSlot);
    const withOpens = score(after, cohort, global);
    expect(Array.from(withOpens.scores)).toEqual(Array.from(score(moved, cohort, global).scores));
    expect(bestHour(withOpens.scores)).toBe(bestHour(reference.scores));
  });

  it('weighs clicks under the CLICK objective', () => {
    const profile = habit();
    for (let day = 0; day < 40; day++) engage(profile, day, 20, 'CLICK');
    const open = score(profile, cohort, global, 'OPEN').scores;
    const click = score(profile, cohort, global, 'CLICK').scores;
    const ratio = (scores: Float64Array) => scores[MONDAY * 24 + 20]! / scores[MONDAY * 24 + 9]!;
    expect([8, 9]).toContain(bestHour(open));
    expect(ratio(click)).toBeGreaterThan(3 * ratio(open));
    // With clicks weighted twice, the click hour wins.
    const clickFirst = score(profile, cohort, global, 'CLICK', { ...DEFAULT_MODEL_PARAMS, clickObjectiveWeight: 2 }).scores;
    expect([19, 20]).toContain(bestHour(clickFirst));
    // Without the click weight the objective changes nothing.
    const ignored = score(profile, cohort, global, 'CLICK', { ...DEFAULT_MODEL_PARAMS, clickObjectiveWeight: 0 }).scores;
    expect(Array.from(ignored)).toEqual(Array.from(open));
  });

  it('targets the first engagement of the day, not all of them', () => {
    const profile = emptyProfile();
    // First at 8 every day, then busy all afternoon.
    for (let day = 0; day < 40; day++) {
      expect(engage(profile, day, 8).firstOfDay).toBe(true);
      for (const hour of [14, 15, 16, 17]) expect(engage(profile, day, hour).firstOfDay).toBe(false);
    }
    expect(profile.activeDays).toBe(40);
    expect([7, 8]).toContain(bestHour(score(profile, cohort, global).scores));
  });
});

describe('recent activity', () => {
  function nightOwl(): Profile {
    const profile = emptyProfile();
    // Usually first seen at 21:00; the evening of the last day (a Sunday) runs to 23:40.
    for (let day = 0; day < 69; day++) engage(profile, day, 21);
    engage(profile, 69, 21);
    engage(profile, 69, 23, 'SESSION', DEFAULT_MODEL_PARAMS, 40);
    return profile;
  }

  it('raises the hours right after the latest human engagement, and only those', () => {
    const profile = nightOwl();
    const off = score(profile, cohort, global, 'OPEN', { ...DEFAULT_MODEL_PARAMS, recentActivityWeight: 0 });
    const on = score(profile, cohort, global, 'OPEN', { ...DEFAULT_MODEL_PARAMS, recentActivityWeight: 1 });
    // Monday 00:00, twenty minutes after the session: raised; later hours less and less.
    const raised = (slot: number) => on.slotMass[slot]! - off.slotMass[slot]!;
    expect(on.slotMass[0]! / off.slotMass[0]!).toBeGreaterThan(5);
    expect(raised(1)).toBeLessThan(raised(0));
    expect(raised(12)).toBeLessThan(raised(0) / 50);
    expect(raised(21)).toBeLessThan(raised(0) / 1000);
    // (Slot 167, the hour of the engagement itself, may still be current: it is not a later hour.)
    for (let slot = 24; slot < 167; slot++) expect(raised(slot)).toBeLessThan(raised(0) / 1000);
    expect(on.scores[0]! / off.scores[0]!).toBeGreaterThan(5);
    expect(bestHour(off.scores)).toBe(20);
  });

  it('fades once the engagement is old', () => {
    const profile = nightOwl();
    const params = { ...DEFAULT_MODEL_PARAMS, recentActivityWeight: 1 };
    const later = (atMs: number) => scoreSlots({ profile, cohort, global, channel: 'EMAIL', objective: 'OPEN', atMs, params });
    const plain = scoreSlots({ profile, cohort, global, channel: 'EMAIL', objective: 'OPEN', atMs: AT + 8 * DAY, params: { ...params, recentActivityWeight: 0 } });
    // Eight days on, the same Monday 00:00 slot gets nothing extra.
    expect(Array.from(later(AT + 8 * DAY).slotMass)).toEqual(Array.from(plain.slotMass));
  });
});

