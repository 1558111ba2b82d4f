import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { decide } from '../../../services/model/decide.ts';
import { compileDecisionConfig, type Decision, type DecisionConfig, type DecisionContext, type DecisionTrigger, type QuietHours } from '../../../services/model/decision-types.ts';
import { scheduleIdOf } from '../../../services/model/hash.ts';
import { isQuietMinute } from '../../../services/model/quiet-hours.ts';
import { requireZone } from '../../../services/model/time/time-zone.ts';
import { baseContext, baseTrigger, bruteForceTopOfHours, HOUR, inboxOracle, quietHoursArb, scoresArb, zoneAndInstant } from './fixtures.ts';

// Oracles below read local time with luxon directly, independently of services/model/time.

function luxonZone(zone: string): string {
  return requireZone(zone).name;
}

function localMinuteOfDay(epochMs: number, zone: string): number {
  const reading = DateTime.fromMillis(epochMs, { zone: luxonZone(zone) });
  return reading.hour * 60 + reading.minute;
}

function hourOfWeekAt(epochMs: number, zone: string): number {
  const reading = DateTime.fromMillis(epochMs, { zone: luxonZone(zone) });
  return (reading.weekday - 1) * 24 + reading.hour;
}

function quietAt(epochMs: number, zone: string, quiet: QuietHours | null): boolean {
  return isQuietMinute(localMinuteOfDay(epochMs, zone), quiet);
}

/** The first minute at or after t outside quiet hours, by scanning minutes with luxon. */
function firstAllowedByScan(t: number, zone: string, quiet: QuietHours | null): number {
  if (!quietAt(t, zone, quiet)) return t;
  for (let at = Math.ceil((t + 1) / 60_000) * 60_000; at < t + 2 * 86_400_000; at += 60_000) {
    if (!quietAt(at, zone, quiet)) return at;
  }
  throw new Error('no allowed minute');
}

interface OracleSlot {
  sendAtMs: number;
  hourOfWeek: number;
  score: number;
  allowed: boolean;
  /** The mid-hour "now" of the trigger. */
  isNow: boolean;
}

function oracleCandidates(nowMs: number, endMs: number, zone: string, quiet: QuietHours | null, scores: Float64Array): OracleSlot[] {
  const instants = bruteForceTopOfHours(nowMs, endMs, luxonZone(zone));
  const midHour = instants[0] !== nowMs;
  if (midHour) instants.unshift(nowMs);
  return instants.map((at, index) => ({ sendAtMs: at, hourOfWeek: hourOfWeekAt(at, zone), score: scores[hourOfWeekAt(at, zone)]!, allowed: !quietAt(at, zone, quiet), isNow: midHour && index === 0 }));
}

function bestOf(slots: OracleSlot[]): OracleSlot | undefined {
  return slots.reduce<OracleSlot | undefined>((best, slot) => (best === undefined || slot.score > best.score ? slot : best), undefined);
}

const scenario = fc.record({
  at: zoneAndInstant,
  windowHours: fc.integer({ min: 1, max: 168 }),
  quietHours: quietHoursArb,
  scores: scoresArb,
  triggerId: fc.string({ minLength: 1, maxLength: 24 }),
  recipientId: fc.string({ minLength: 1, maxLength: 12 }),
  defaultLocalMinute: fc.option(fc.integer({ min: 0, max: 1439 }), { nil: null }),
  policy: fc.constantFrom(null, 'BEST_ALLOWED' as const, 'DEFER_TO_END' as const),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function triggerOf(s: Scenario, overrides: Partial<DecisionTrigger> = {}): DecisionTrigger {
  return baseTrigger({
    triggerId: s.triggerId,
    recipientId: s.recipientId,
    timeZone: s.at.zone,
    occurredAtMs: s.at.nowMs,
    windowHours: s.windowHours,
    quietHours: s.quietHours,
    defaultLocalMinute: s.defaultLocalMinute,
    quietHoursPolicy: s.policy,
    ...overrides,
  });
}

function decided(trigger: DecisionTrigger, context: DecisionContext, config: Readonly<DecisionConfig>): Decision {
  const outcome = decide(trigger, context, config);
  if (!outcome.ok) throw new Error(`invalid: ${outcome.invalid.code} ${outcome.invalid.message}`);
  return outcome.decision;
}

const optimizeOnly = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0 });

describe('decision invariants (any zone, any time around DST, any window, quiet hours and scores)', () => {
  it('never in the past, inside the window unless QUIET_HOURS_FORCED, never quiet, replayable', () => {
    fc.assert(
      fc.property(
        scenario,
        fc.record({
          channel: fc.constantFrom('EMAIL' as const, 'PUSH' as const, 'SMS' as const, 'IN_APP' as const),
          urgency: fc.constantFrom('NORMAL' as const, 'URGENT' as const),
          holdoutShare: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
          explorationShare: fc.constantFrom(0, 0.05, 0.5, 1),
          thinHistory: fc.boolean(),
          noScores: fc.boolean(),
        }),
        (s, extra) => {
          const config = compileDecisionConfig({ explorationShare: extra.explorationShare, holdoutShare: 0.1 });
          const trigger = triggerOf(s, { channel: extra.channel, urgency: extra.urgency, holdoutShare: extra.holdoutShare });
          const context = baseContext(trigger, { slotScores: extra.noScores ? null : s.scores, thinHistory: extra.thinHistory });
          const decision = decided(trigger, context, config);
          const { zone, nowMs } = s.at;
          const windowEnd = nowMs + s.windowHours * HOUR;

          expect(decision.sendAtMs).toBeGreaterThanOrEqual(nowMs);
          expect(Number.isInteger(decision.sendAtMs)).toBe(true);
          if (decision.bindingConstraint === 'QUIET_HOURS_FORCED') {
            expect(decision.sendAtMs).toBeGreaterThan(windowEnd);
            // Forced lands where a quiet range ends: the minute before is quiet.
            expect(quietAt(decision.sendAtMs - 60_000, zone, s.quietHours)).toBe(true);
          } else {
            expect(decision.sendAtMs).toBeLessThanOrEqual(windowEnd);
          }
          expect(quietAt(decision.sendAtMs, zone, s.quietHours)).toBe(false);
          expect(Date.parse(decision.localSendTime)).toBe(decision.sendAtMs);
          expect(decision.propensity).toBeGreaterThan(0);
          expect(decision.propensity).toBeLessThanOrEqual(1);
          expect(decision.scheduleId).toBe(scheduleIdOf(trigger.triggerId, trigger.recipientId));
          expect(decision.exploration).toBe(decision.reason === 'EXPLORATION');
          expect(decision.arm).toBe(decision.reason === 'CONTROL' ? 'CONTROL' : 'TREATMENT');
          expect(decision.urgentBypass).toBe(decision.reason === 'URGENT_BYPASS');
          if (decision.reason === 'URGENT_BYPASS') expect(trigger.channel === 'SMS' && trigger.urgency === 'URGENT').toBe(true);

          expect(decision.topSlots.length).toBeLessThanOrEqual(3);
          decision.topSlots.forEach((slot, index) => {
            expect(slot.sendAtMs).toBeGreaterThanOrEqual(nowMs);
            expect(slot.sendAtMs).toBeLessThanOrEqual(windowEnd);
            expect(quietAt(slot.sendAtMs, zone, s.quietHours)).toBe(false);
            expect(slot.hourOfWeek).toBe(hourOfWeekAt(slot.sendAtMs, zone));
            if (index > 0) expect(slot.score).toBeLessThanOrEqual(decision.topSlots[index - 1]!.score);
          });

          // Same input, fresh copies: byte-identical output.
          const replayTrigger = structuredClone(trigger);
          const replayContext = { ...structuredClone({ ...context, slotScores: null }), slotScores: context.slotScores === null ? null : Float64Array.from(context.slotScores) };
          expect(JSON.stringify(decided(replayTrigger, replayContext, compileDecisionConfig({ explorationShare: extra.explorationShare, holdoutShare: 0.1 })))).toBe(JSON.stringify(decision));
        },
      ),
      { numRuns: 250 },
    );
  });

  it('an explicit sendAt is honoured as max(sendAt, now) whatever else holds', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: -30 * 24, max: 80 * 24 }), (s, hoursAhead) => {
        const sendAtMs = Math.max(0, s.at.nowMs + hoursAhead * HOUR + 123);
        const trigger = triggerOf(s, { sendAtMs, channel: 'SMS', urgency: 'URGENT' });
        const decision = decided(trigger, baseContext(trigger, { slotScores: s.scores }), optimizeOnly);
        expect(decision).toMatchObject({ reason: 'EXPLICIT_SEND_AT', bindingConstraint: 'EXPLICIT', sendAtMs: Math.max(sendAtMs, s.at.nowMs) });
      }),
      { numRuns: 60 },
    );
  });
});

describe('optimized choice against a brute-force oracle', () => {
  it('BEST_ALLOWED: the best allowed slot (by inbox value when the best slot is quiet); the window end only when the curve still rises; forced only when all is quiet', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const trigger = triggerOf(s, { quietHoursPolicy: 'BEST_ALLOWED' });
        const decision = decided(trigger, baseContext(trigger, { slotScores: s.scores }), optimizeOnly);
        const { zone, nowMs } = s.at;
        const windowEnd = nowMs + s.windowHours * HOUR;
        const candidates = oracleCandidates(nowMs, windowEnd, zone, s.quietHours, s.scores);
        const allowed = candidates.filter((slot) => slot.allowed);
        const topScore = bestOf(allowed);
        const best = inboxOracle(candidates, s.scores, optimizeOnly.inboxHalfLifeHours);
        expect(decision.reason).toBe('OPTIMIZED');
        expect(decision.propensity).toBe(1);
        if (best === undefined) {
          expect(decision.sendAtMs).toBe(firstAllowedByScan(nowMs, zone, s.quietHours));
          expect(['QUIET_HOURS', 'QUIET_HOURS_FORCED']).toContain(decision.bindingConstraint);
          return;
        }
        expect(decision.topSlots[0]?.score).toBe(topScore!.score);
        if (decision.bindingConstraint === 'WINDOW_END') {
          expect(best).toBe(allowed[allowed.length - 1]);
          const next = bruteForceTopOfHours(windowEnd + 1, windowEnd + 2 * HOUR, luxonZone(zone))[0]!;
          expect(s.scores[hourOfWeekAt(next, zone)]!).toBeGreaterThan(best.score);
          expect([windowEnd, best.sendAtMs]).toContain(decision.sendAtMs);
        } else {
          expect(decision.sendAtMs).toBe(best.sendAtMs);
          const unconstrained = bestOf(candidates)!;
          const expected = unconstrained.score > best.score ? 'QUIET_HOURS' : best.isNow ? 'NOW' : 'NONE';
          expect(decision.bindingConstraint).toBe(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('WINDOW_END: a score curve rising through the window end sends at the window end', () => {
    fc.assert(
      fc.property(zoneAndInstant, fc.integer({ min: 1, max: 72 }), (at, windowHours) => {
        const { zone, nowMs } = at;
        const windowEnd = nowMs + windowHours * HOUR;
        const scores = new Float64Array(168);
        const slots = oracleCandidates(nowMs, windowEnd, zone, null, scores).map((slot) => slot.sendAtMs);
        const next = bruteForceTopOfHours(windowEnd + 1, windowEnd + 2 * HOUR, luxonZone(zone))[0]!;
        // Rising in time order (a repeated fall-back hour keeps its later, higher score).
        [...slots, next].forEach((sendAtMs, index) => {
          scores[hourOfWeekAt(sendAtMs, zone)] = (index + 1) / 1000;
        });
        const candidates = oracleCandidates(nowMs, windowEnd, zone, null, scores);
        const best = bestOf(candidates)!;
        fc.pre(best === candidates[candidates.length - 1] && scores[hourOfWeekAt(next, zone)]! > best.score);
        const trigger = baseTrigger({ timeZone: zone, occurredAtMs: nowMs, windowHours });
        const decision = decided(trigger, baseContext(trigger, { slotScores: scores }), optimizeOnly);
        expect(decision).toMatchObject({ reason: 'OPTIMIZED', bindingConstraint: 'WINDOW_END', sendAtMs: windowEnd });
      }),
      { numRuns: 100 },
    );
  });

  it('DEFER_TO_END: a quiet best slot is deferred to the end of its quiet range', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const trigger = triggerOf(s, { quietHoursPolicy: 'DEFER_TO_END' });
        const decision = decided(trigger, baseContext(trigger, { slotScores: s.scores }), optimizeOnly);
        const { zone, nowMs } = s.at;
        const windowEnd = nowMs + s.windowHours * HOUR;
        const best = bestOf(oracleCandidates(nowMs, windowEnd, zone, s.quietHours, s.scores))!;
        if (!best.allowed) {
          const end = firstAllowedByScan(best.sendAtMs, zone, s.quietHours);
          expect(decision.sendAtMs).toBe(end);
          // The local clock shows the end minute, unless a DST jump skipped past it.
          const reading = DateTime.fromMillis(end, { zone: luxonZone(zone) });
          if (reading.hour * 60 + reading.minute !== s.quietHours!.endMinute) {
            expect(DateTime.fromMillis(end - 1, { zone: luxonZone(zone) }).offset).not.toBe(reading.offset);
          }
          expect(decision.bindingConstraint).toBe(end <= windowEnd ? 'QUIET_HOURS' : 'QUIET_HOURS_FORCED');
        } else if (decision.bindingConstraint !== 'WINDOW_END') {
          expect(decision.sendAtMs).toBe(best.sendAtMs);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('fallback and control use the default local time when it falls inside the window', () => {
    fc.assert(
      fc.property(scenario, fc.boolean(), (s, control) => {
        const trigger = triggerOf(s, { holdoutShare: control ? 1 : 0 });
        const decision = decided(trigger, baseContext(trigger, { thinHistory: true }), optimizeOnly);
        expect(decision.reason).toBe(control ? 'CONTROL' : 'FALLBACK_THIN_HISTORY');
        const { zone, nowMs } = s.at;
        if (decision.bindingConstraint === 'DEFAULT_TIME') {
          expect(localMinuteOfDay(decision.sendAtMs, zone) === s.defaultLocalMinute || DateTime.fromMillis(decision.sendAtMs - 1, { zone: luxonZone(zone) }).offset !== DateTime.fromMillis(decision.sendAtMs, { zone: luxonZone(zone) }).offset).toBe(true);
        } else if (decision.bindingConstraint === 'WINDOW_START') {
          expect(decision.sendAtMs).toBe(nowMs);
        } else {
          expect(['QUIET_HOURS', 'QUIET_HOURS_FORCED']).toContain(decision.bindingConstraint);
        }
      }),
      { numRuns: 120 },
    );
  });
});

describe('deterministic shares', () => {
  const triggers = 4000;

  it('exploration share is met within tolerance over many trigger ids, and propensities are the true probabilities', () => {
    const share = 0.1;
    const config = compileDecisionConfig({ explorationShare: share, holdoutShare: 0 });
    const slotScores = new Float64Array(168).map((_, index) => ((index * 37) % 101) / 100);
    const counts = new Map<number, number>();
    const propensities = new Map<number, number>();
    let explored = 0;
    for (let index = 0; index < triggers; index += 1) {
      const trigger = baseTrigger({ triggerId: `explore-${index}`, windowHours: 12, occurredAtMs: Date.UTC(2025, 5, 2, 9, 30) });
      const decision = decided(trigger, baseContext(trigger, { slotScores }), config);
      if (decision.exploration) explored += 1;
      counts.set(decision.sendAtMs, (counts.get(decision.sendAtMs) ?? 0) + 1);
      const known = propensities.get(decision.sendAtMs);
      if (known !== undefined) expect(decision.propensity).toBe(known);
      propensities.set(decision.sendAtMs, decision.propensity);
    }
    // Binomial sd = sqrt(0.1 * 0.9 / 4000) = 0.0047; allow over 4 sd.
    expect(Math.abs(explored / triggers - share)).toBeLessThan(0.02);
    // 13 slots (now + 12 tops); the logged propensities sum to 1 and match the frequencies.
    expect(counts.size).toBe(13);
    expect([...propensities.values()].reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 12);
    for (const [sendAtMs, count] of counts) {
      const propensity = propensities.get(sendAtMs)!;
      const sd = Math.sqrt((propensity * (1 - propensity)) / triggers);
      expect(Math.abs(count / triggers - propensity)).toBeLessThan(5 * sd + 0.002);
    }
  });

  it('holdout share is met within tolerance over recipients, from the trigger or the config', () => {
    const config = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0.2 });
    let fromConfig = 0;
    let fromTrigger = 0;
    for (let index = 0; index < triggers; index += 1) {
      const trigger = baseTrigger({ triggerId: `h-${index}`, recipientId: `recipient-${index}`, campaignId: 'spring-sale', windowHours: 2 });
      if (decided(trigger, baseContext(trigger), config).arm === 'CONTROL') fromConfig += 1;
      const own = { ...trigger, holdoutShare: 0.5 };
      if (decided(own, baseContext(own), config).arm === 'CONTROL') fromTrigger += 1;
    }
    // sd 0.0063 and 0.0079.
    expect(Math.abs(fromConfig / triggers - 0.2)).toBeLessThan(0.03);
    expect(Math.abs(fromTrigger / triggers - 0.5)).toBeLessThan(0.035);
  });

  it('holdout and exploration draws are independent of each other', () => {
    const config = compileDecisionConfig({ explorationShare: 0.5, holdoutShare: 0.5 });
    let both = 0;
    for (let index = 0; index < triggers; index += 1) {
      const trigger = baseTrigger({ triggerId: `i-${index}`, recipientId: `i-${index}`, windowHours: 2 });
      const held = decided(trigger, baseContext(trigger), config).arm === 'CONTROL';
      const explores = decided(trigger, baseContext(trigger), compileDecisionConfig({ explorationShare: 0.5, holdoutShare: 0 })).exploration;
      if (held && explores) both += 1;
    }
    expect(Math.abs(both / triggers - 0.25)).toBeLessThan(0.03);
  });
});

describe('sequence steps and settings (windows that open later, bypass policy, STO off)', () => {
  it('a step never goes before its window opens, stays inside it unless QUIET_HOURS_FORCED, respects quiet hours unless told not to, and has its own id', () => {
    fc.assert(
      fc.property(
        scenario,
        fc.record({
          windowStartHours: fc.integer({ min: 0, max: 336 }),
          step: fc.integer({ min: 1, max: 10 }),
          bypass: fc.constantFrom(undefined, 'NONE' as const, 'RESPECT_QUIET_HOURS' as const, 'IGNORE_QUIET_HOURS' as const),
          optimize: fc.constantFrom(undefined, true, false),
          explorationShare: fc.constantFrom(0, 0.05, 1),
          thinHistory: fc.boolean(),
        }),
        (s, extra) => {
          const config = compileDecisionConfig({ explorationShare: extra.explorationShare, holdoutShare: 0.1 });
          const trigger = triggerOf(s, { windowStartHours: extra.windowStartHours, step: extra.step, bypass: extra.bypass, optimize: extra.optimize });
          const decision = decided(trigger, baseContext(trigger, { slotScores: s.scores, thinHistory: extra.thinHistory }), config);
          const { zone, nowMs } = s.at;
          const start = nowMs + extra.windowStartHours * HOUR;
          const end = start + s.windowHours * HOUR;
          expect(decision.windowStartMs).toBe(start);
          expect(decision.windowEndMs).toBe(end);
          expect(decision.sendAtMs).toBeGreaterThanOrEqual(start);
          if (decision.bindingConstraint === 'QUIET_HOURS_FORCED') expect(decision.sendAtMs).toBeGreaterThan(end);
          else expect(decision.sendAtMs).toBeLessThanOrEqual(end);
          const ignoresQuiet = extra.bypass === 'IGNORE_QUIET_HOURS';
          if (!ignoresQuiet) expect(quietAt(decision.sendAtMs, zone, s.quietHours)).toBe(false);
          if (extra.bypass === 'RESPECT_QUIET_HOURS' || ignoresQuiet) {
            expect(decision.reason).toBe('URGENT_BYPASS');
            if (ignoresQuiet || !quietAt(start, zone, s.quietHours)) expect(decision.sendAtMs).toBe(start);
          }
          if (extra.bypass === 'NONE') expect(decision.reason).not.toBe('URGENT_BYPASS');
          if (extra.optimize === false && extra.bypass !== 'RESPECT_QUIET_HOURS' && !ignoresQuiet && !(extra.bypass === undefined && trigger.urgency === 'URGENT' && trigger.channel === 'SMS')) {
            expect([decision.reason, decision.arm]).toEqual(['CONTROL', 'CONTROL']);
          }
          // A window that opens later never reports "now" as what bound the send.
          if (extra.windowStartHours > 0) expect(decision.bindingConstraint).not.toBe('NOW');
          expect(decision.scheduleId).toBe(scheduleIdOf(trigger.triggerId, trigger.recipientId, extra.step));
          expect(decision.scheduleId).not.toBe(scheduleIdOf(trigger.triggerId, trigger.recipientId));
        },
      ),
      { numRuns: 250 },
    );
  });
});
