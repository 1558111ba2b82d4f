import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { decide } from '../../../services/model/decide.ts';
import { compileDecisionConfig } from '../../../services/model/decision-types.ts';
import { applyEngagement, emptyProfile, type Profile } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, scoreSlots } from '../../../services/model/score.ts';
import { resolveTimeZone } from '../../../services/model/time/time-zone.ts';
import { localSlotOf } from '../../../services/model/time/local-slot.ts';
import { baseTrigger } from '../decision/fixtures.ts';

// When a recipient's habit lies inside quiet hours, no allowed slot sees an engagement within its
// arrival window, and the window alone ranks the allowed slots by noise. The inbox term (a message
// waits for the recipient's next visit, worth less the longer it waits) ranks them by how soon
// that visit comes: the last allowed slot before the habit.

const HOUR = 3_600_000;
const DAY = 86_400_000;
const START = Date.UTC(2025, 8, 1); // 40 days of history from here
const QUIET = { startMinute: 22 * 60, endMinute: 7 * 60 };
const config = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0 });
const withoutInbox = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0, inboxHalfLifeHours: 0 });

function zoneOf(name: string) {
  const resolved = resolveTimeZone(name);
  if (!resolved.ok) throw new Error(resolved.reason);
  return resolved.zone;
}

/** Engagement at `minuteOfDay` local time, every day of 40, with a little jitter. */
function feed(profile: Profile, zoneName: string, minuteOfDay: number, jitterSeed: number, aggregates: Profile[]): void {
  const aggregateParams = { ...DEFAULT_MODEL_PARAMS, refGranularityMs: DAY };
  for (let day = 0; day < 40; day++) {
    const jitter = ((day * 7919 + jitterSeed * 104_729) % 41) - 20; // -20..20 minutes
    const local = DateTime.fromMillis(START + day * DAY, { zone: zoneName }).startOf('day').plus({ minutes: minuteOfDay + jitter });
    const atMs = local.toMillis();
    const slot = localSlotOf(atMs, zoneOf(zoneName));
    const input = { slot: slot.hourOfWeek, channel: 'EMAIL' as const, signal: 'SESSION' as const, atMs, localDay: slot.localDay };
    const { firstOfDay } = applyEngagement(profile, input, DEFAULT_MODEL_PARAMS);
    for (const aggregate of aggregates) applyEngagement(aggregate, { ...input, firstOfDay }, aggregateParams);
  }
}

/** A population of daytime habits (09:00 to 17:00) and one recipient whose habit is `habitMinute`. */
function world(zoneName: string, habitMinute: number, population: boolean) {
  const cohort = emptyProfile();
  const global = emptyProfile();
  if (population) for (let other = 0; other < 30; other++) feed(emptyProfile(), zoneName, (9 + (other % 9)) * 60 + 15, other, [cohort, global]);
  const profile = emptyProfile();
  feed(profile, zoneName, habitMinute, 99, population ? [cohort, global] : []);
  return { profile, cohort: population ? cohort : null, global: population ? global : null };
}

function localHoursChosen(zoneName: string, habitMinute: number, decisionConfig = config, population = true): Map<number, number> {
  const { profile, cohort, global } = world(zoneName, habitMinute, population);
  const chosen = new Map<number, number>();
  // 60 triggers over a week, at odd minutes, each with its own id (the seed of the hash draws).
  for (let index = 0; index < 60; index++) {
    const nowMs = START + 40 * DAY + index * 167 * 60_000 + (index % 7) * 60_000;
    const scored = scoreSlots({ profile, cohort, global, channel: 'EMAIL', objective: 'OPEN', atMs: nowMs });
    const trigger = baseTrigger({ triggerId: `t-${index}`, recipientId: `r-${index % 5}`, occurredAtMs: nowMs, timeZone: zoneName, windowHours: 24, quietHours: QUIET });
    const outcome = decide(trigger, { nowMs, slotScores: scored.scores, thinHistory: false, evidence: scored.evidence, historyDepth: { events: 40, activeDays: 40 }, learnedTimeZone: null }, decisionConfig);
    if (!outcome.ok) throw new Error(outcome.invalid.message);
    const hour = localSlotOf(outcome.decision.sendAtMs, zoneOf(zoneName)).hourOfWeek % 24;
    chosen.set(hour, (chosen.get(hour) ?? 0) + 1);
  }
  return chosen;
}

describe('a habit inside quiet hours (BEST_ALLOWED)', () => {
  for (const zoneName of ['Europe/Berlin', 'America/New_York', 'UTC']) {
    it(`habit at 23:00, quiet 22:00-07:00 (${zoneName}): every trigger goes at 21:00, the last allowed hour before it`, () => {
      expect([...localHoursChosen(zoneName, 23 * 60 + 10)]).toEqual([[21, 60]]);
      expect([...localHoursChosen(zoneName, 23 * 60 + 10, config, false)]).toEqual([[21, 60]]);
    });
    it(`habit at 01:00, beyond the smoothing's reach (${zoneName}): still 21:00, with or without a population prior`, () => {
      expect([...localHoursChosen(zoneName, 60 + 10)]).toEqual([[21, 60]]);
      expect([...localHoursChosen(zoneName, 60 + 10, config, false)]).toEqual([[21, 60]]);
    });
  }

  it('without the inbox value the allowed hours are ranked by what is left: the population\'s peak, or noise without one', () => {
    expect(localHoursChosen('Europe/Berlin', 60 + 10, withoutInbox).get(21) ?? 0).toBe(0);
    expect(localHoursChosen('Europe/Berlin', 60 + 10, withoutInbox, false).get(21) ?? 0).toBeLessThan(60);
  });

  it('leaves a decision whose best slot is allowed as it was', () => {
    // A habit at 19:10 give or take 20 minutes: the same hours with the inbox value and without.
    const chosen = [...localHoursChosen('Europe/Berlin', 19 * 60 + 10)];
    expect(chosen.every(([hour]) => hour === 18 || hour === 19)).toBe(true);
    expect(chosen).toEqual([...localHoursChosen('Europe/Berlin', 19 * 60 + 10, withoutInbox)]);
  });
});
