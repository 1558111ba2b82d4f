import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { decide } from '../../../services/model/decide.ts';
import { compileDecisionConfig } from '../../../services/model/decision-types.ts';
import { isQuietMinute } from '../../../services/model/quiet-hours.ts';
import { applyEngagement, cellIndex, CHANNELS, emptyProfile, recentCellIndex, slotValues, type ModelChannel, type Profile, type Signal } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, scoreSlots, type ModelParams, type Objective } from '../../../services/model/score.ts';
import { baseTrigger, bruteForceTopOfHours, DAY, HOUR, inboxOracle, quietHoursArb, zoneAndInstant } from './fixtures.ts';

// The decision hot path reads profiles as dense typed arrays, caches the aggregates' cells and
// the zone's offsets, and reuses its buffers. This test computes the same decisions the
// straightforward way (the model written out with a map lookup per slot, local times read with
// luxon per instant) for random recipients in random zones, DST transitions included, and asks
// for the very same numbers: any change of result fails here.

const luxonZone = (zone: string) => (zone.startsWith('+') || zone.startsWith('-') ? `UTC${zone}` : zone);

/** Local hour of week, minute of day and local day of an instant, read with luxon. */
function luxonSlot(epochMs: number, zone: string) {
  const reading = DateTime.fromMillis(epochMs, { zone: luxonZone(zone) });
  const localDay = Math.floor(Date.UTC(reading.year, reading.month - 1, reading.day) / DAY);
  return { hourOfWeek: (reading.weekday - 1) * 24 + reading.hour, minuteOfDay: reading.hour * 60 + reading.minute, localDay };
}

// ---- the model, written out plainly ----------------------------------------------------

const firstEngagementIndex = (channel: ModelChannel) => cellIndex(channel, 'FIRST_ENGAGEMENT', 0);

const OPEN_SIGNALS: [Signal, number][] = [['HUMAN_OPEN', 1], ['SESSION', 1], ['CLICK', 1], ['CONVERSION', 1]];
const CLICK_SIGNALS: [Signal, number][] = [['CLICK', 3], ['CONVERSION', 3], ['HUMAN_OPEN', 0.5], ['SESSION', 0.5]];

function referenceEvidence(profile: Profile, channel: ModelChannel, objective: Objective, atMs: number, params: ModelParams, isOwn: boolean): Float64Array {
  const out = new Float64Array(168);
  for (const other of CHANNELS) {
    const channelWeight = other === channel ? 1 : params.otherChannelWeight;
    if (channelWeight === 0) continue;
    const own = slotValues(profile, other, 'FIRST_ENGAGEMENT', atMs, params);
    // The recent layer, mixed in by the recipient's own record (aggregates have none: weight 0).
    if (isOwn) {
      const weight = (params.recentDayDecay ?? 1) < 1 ? 1 / (1 + Math.exp(-profile.recentLogOdds)) : 0;
      const factor = atMs > profile.refMs ? 2 ** (-(atMs - profile.refMs) / (params.halfLifeDays * DAY)) : 1;
      const long = (slot: number) => profile.cells.get(recentCellIndex(other, slot) - recentCellIndex(other, 0) + firstEngagementIndex(other)) ?? 0;
      if (weight > 0) for (let slot = 0; slot < 168; slot++) own[slot] = ((1 - weight) * long(slot) + weight * (profile.cells.get(recentCellIndex(other, slot)) ?? 0)) * factor;
    }
    if (params.allEngagementWeight > 0) {
      for (const [signal, weight] of objective !== 'OPEN' ? CLICK_SIGNALS : OPEN_SIGNALS) {
        const values = slotValues(profile, other, signal, atMs, params);
        for (let slot = 0; slot < 168; slot++) own[slot]! += weight * params.allEngagementWeight * values[slot]!;
      }
    }
    if (objective === 'CLICK' && params.clickObjectiveWeight > 0) {
      for (const signal of ['CLICK', 'CONVERSION'] as const) {
        const values = slotValues(profile, other, signal, atMs, params);
        for (let slot = 0; slot < 168; slot++) own[slot]! += params.clickObjectiveWeight * values[slot]!;
      }
    }
    if (objective === 'CONVERSION' && params.clickObjectiveWeight > 0) {
      // The click and conversion mass, spread as conversions shrunk toward the click pattern.
      const clicks = slotValues(profile, other, 'CLICK', atMs, params);
      const conversions = slotValues(profile, other, 'CONVERSION', atMs, params);
      let count = 0;
      let mass = 0;
      for (let slot = 0; slot < 168; slot++) {
        count += conversions[slot]!;
        mass += clicks[slot]! + conversions[slot]!;
      }
      const m = params.conversionStrength;
      if (count + m > 0) {
        for (let slot = 0; slot < 168; slot++) own[slot]! += (params.clickObjectiveWeight * (mass * conversions[slot]! + m * (clicks[slot]! + conversions[slot]!))) / (count + m);
      }
    }
    const exposure = slotValues(profile, other, 'EXPOSURE', atMs, params);
    let exposureTotal = 0;
    for (const value of exposure) exposureTotal += value;
    for (let slot = 0; slot < 168; slot++) {
      let value = own[slot]!;
      if (exposureTotal > 0 && params.exposureDiscount > 0) {
        const recent = (exposure[slot]! + exposure[(slot + 167) % 168]!) / exposureTotal;
        value /= 1 + (params.exposureDiscount * recent * 168) / 2;
      }
      out[slot]! += channelWeight * value;
    }
  }
  return out;
}

function referenceSmooth(values: Float64Array, kernel: readonly number[]): Float64Array {
  let weight = kernel[0]!;
  for (let k = 1; k < kernel.length; k++) weight += 2 * kernel[k]!;
  return values.map((value, i) => {
    let sum = kernel[0]! * value;
    for (let k = 1; k < kernel.length; k++) sum += kernel[k]! * (values[(i + k) % 168]! + values[(i - k + 168) % 168]!);
    return sum / weight;
  });
}

const sum = (values: ArrayLike<number>) => {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
};
const shrink = (count: number, total: number, strength: number, prior: number) =>
  strength === Number.POSITIVE_INFINITY || total + strength <= 0 ? prior : (count + strength * prior) / (total + strength);

function referenceScores(profile: Profile, cohort: Profile, global: Profile, channel: ModelChannel, objective: Objective, atMs: number, params: ModelParams) {
  const globalRaw = referenceSmooth(referenceEvidence(global, channel, objective, atMs, params, false), params.smoothing);
  const globalTotal = sum(globalRaw);
  const globalDist = globalRaw.map((value) => (value + 1e-3) / (globalTotal + 1e-3 * 168));
  const cohortRaw = referenceSmooth(referenceEvidence(cohort, channel, objective, atMs, params, false), params.smoothing);
  const cohortTotal = sum(cohortRaw);
  const cohortDist = cohortRaw.map((value, slot) => (value + params.cohortStrength * globalDist[slot]!) / (cohortTotal + params.cohortStrength));
  const cohortByDay = new Float64Array(168);
  const cohortDayShare = new Float64Array(7);
  for (let day = 0; day < 7; day++) {
    const daySum = sum(cohortDist.subarray(day * 24, day * 24 + 24));
    for (let hour = 0; hour < 24; hour++) cohortByDay[day * 24 + hour] = daySum > 0 ? cohortDist[day * 24 + hour]! / daySum : 1 / 24;
  }
  for (let slot = 0; slot < 168; slot++) cohortDayShare[Math.floor(slot / 24)]! += cohortDist[slot]!;
  const own = referenceSmooth(referenceEvidence(profile, channel, objective, atMs, params, true), params.smoothing);
  const ownTotal = sum(own);
  const hourOfDay = new Float64Array(24);
  const byType = new Float64Array(48);
  const typeTotals = new Float64Array(2);
  const dayTotals = new Float64Array(7);
  for (let slot = 0; slot < 168; slot++) {
    const day = Math.floor(slot / 24);
    const type = day >= 5 ? 1 : 0;
    hourOfDay[slot % 24]! += own[slot]!;
    byType[type * 24 + (slot % 24)]! += own[slot]!;
    typeTotals[type]! += own[slot]!;
    dayTotals[day]! += own[slot]!;
  }
  const predicted = new Float64Array(168);
  for (let slot = 0; slot < 168; slot++) {
    const day = Math.floor(slot / 24);
    const hour = slot % 24;
    const type = day >= 5 ? 1 : 0;
    const share = shrink(dayTotals[day]!, ownTotal, params.dayShareStrength, cohortDayShare[day]!);
    const week = shrink(hourOfDay[hour]!, ownTotal, params.hourOfDayStrength, cohortByDay[slot]!);
    const kind = shrink(byType[type * 24 + hour]!, typeTotals[type]!, params.dayTypeStrength, week);
    predicted[slot] = share * shrink(own[slot]!, dayTotals[day]!, params.individualStrength, kind);
  }
  // The carry-on of the latest session.
  const elapsedHours = (atMs - profile.lastEngagedMs) / HOUR;
  if (profile.lastEngagedSlot >= 0 && elapsedHours < 168 && elapsedHours >= -1) {
    const survive = (hours: number) => 2 ** (-Math.max(0, hours) / params.recentActivityHalfLifeHours);
    const dayShares = new Float64Array(7);
    for (let slot = 0; slot < 168; slot++) dayShares[Math.floor(slot / 24)]! += predicted[slot]!;
    for (let slot = 0; slot < 168; slot++) {
      let start = ((slot - profile.lastEngagedSlot + 168) % 168) - 0.5;
      if (start + 1 <= elapsedHours - 0.5) start += 168;
      const mass = survive(start) - survive(start + 1);
      if (mass > 1e-9) predicted[slot] = predicted[slot]! + params.recentActivityWeight * dayShares[Math.floor(slot / 24)]! * mass;
    }
  }
  const scores = predicted.map((_, slot) => {
    let window = 0;
    for (let k = 0; k < params.arrivalWindowHours; k++) window += predicted[(slot + k) % 168]!;
    return Math.min(1, window);
  });
  return { scores, predicted };
}

// ---- random recipients -----------------------------------------------------------------

interface RandomRecipient {
  habitHour: number;
  spreadHours: number;
  historyDays: number;
  seed: number;
  channel: ModelChannel;
  objective: Objective;
  engagedAgoMinutes: number | null;
}

const recipientArb: fc.Arbitrary<RandomRecipient> = fc.record({
  habitHour: fc.integer({ min: 0, max: 23 }),
  spreadHours: fc.double({ min: 0.3, max: 4, noNaN: true }),
  historyDays: fc.integer({ min: 3, max: 60 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  channel: fc.constantFrom<ModelChannel>('EMAIL', 'PUSH'),
  objective: fc.constantFrom<Objective>('OPEN', 'CLICK', 'CONVERSION'),
  engagedAgoMinutes: fc.option(fc.integer({ min: 1, max: 600 }), { nil: null }),
});

/** A small deterministic generator (the history of one recipient from its seed). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const SIGNALS: Signal[] = ['SESSION', 'HUMAN_OPEN', 'CLICK', 'CONVERSION', 'EXPOSURE'];

function history(zone: string, nowMs: number, recipient: RandomRecipient, cohort: Profile, global: Profile): Profile {
  const next = lcg(recipient.seed);
  const profile = emptyProfile();
  const aggregateParams = { ...DEFAULT_MODEL_PARAMS, refGranularityMs: DAY };
  const events: { atMs: number; signal: Signal; channel: ModelChannel }[] = [];
  for (let day = recipient.historyDays; day >= 1; day--) {
    for (let event = Math.floor(next() * 4); event > 0; event--) {
      const hours = recipient.habitHour + (next() - 0.5) * 2 * recipient.spreadHours;
      events.push({ atMs: Math.floor(nowMs - day * DAY + (hours - 12) * HOUR), signal: SIGNALS[Math.floor(next() * SIGNALS.length)]!, channel: next() < 0.7 ? recipient.channel : 'SMS' });
    }
  }
  if (recipient.engagedAgoMinutes !== null) events.push({ atMs: nowMs - recipient.engagedAgoMinutes * 60_000, signal: 'SESSION', channel: recipient.channel });
  events.sort((a, b) => a.atMs - b.atMs);
  for (const event of events) {
    const slot = luxonSlot(event.atMs, zone);
    const input = { slot: slot.hourOfWeek, channel: event.channel, signal: event.signal, atMs: event.atMs, localDay: slot.localDay };
    const { firstOfDay } = applyEngagement(profile, input, DEFAULT_MODEL_PARAMS);
    applyEngagement(cohort, { ...input, firstOfDay }, aggregateParams);
    applyEngagement(global, { ...input, firstOfDay }, aggregateParams);
  }
  return profile;
}

const config = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0 });

describe('the fast decision path gives what the straightforward computation gives', () => {
  it('same scores, same top slots, same send time, for random recipients in DST and fixed-offset zones', () => {
    // Aggregates live on across runs, as in the engine: their cached dense cells must follow
    // every change.
    const cohorts = new Map<string, Profile>();
    const global = emptyProfile();
    fc.assert(
      fc.property(zoneAndInstant, recipientArb, quietHoursArb, fc.constantFrom(6, 24, 30), ({ zone, nowMs }, recipient, quietHours, windowHours) => {
        const cohort = cohorts.get(zone) ?? emptyProfile();
        cohorts.set(zone, cohort);
        const profile = history(zone, nowMs, recipient, cohort, global);
        const scored = scoreSlots({ profile, cohort, global, channel: recipient.channel, objective: recipient.objective, atMs: nowMs });
        const reference = referenceScores(profile, cohort, global, recipient.channel, recipient.objective, nowMs, DEFAULT_MODEL_PARAMS);
        expect([...scored.scores]).toEqual([...reference.scores]);
        expect([...scored.slotMass]).toEqual([...reference.predicted]);

        const trigger = baseTrigger({ triggerId: `t-${recipient.seed}`, occurredAtMs: nowMs, timeZone: zone, windowHours, quietHours, channel: recipient.channel, objective: recipient.objective });
        const context = { nowMs, slotScores: scored.scores, thinHistory: false, evidence: scored.evidence, historyDepth: { events: 1, activeDays: 1 }, learnedTimeZone: null };
        const outcome = decide(trigger, context, config);
        if (!outcome.ok) throw new Error(outcome.invalid.message);
        const decision = outcome.decision;

        // Candidates the plain way: now (when mid-hour) and every top of the hour, luxon's readings.
        const endMs = nowMs + windowHours * HOUR;
        const tops = bruteForceTopOfHours(nowMs, endMs, zone);
        const instants = tops[0] === nowMs ? tops : [nowMs, ...tops];
        const candidates = instants.map((sendAtMs) => {
          const slot = luxonSlot(sendAtMs, zone);
          return { sendAtMs, hourOfWeek: slot.hourOfWeek, score: reference.scores[slot.hourOfWeek]!, allowed: !isQuietMinute(slot.minuteOfDay, quietHours) };
        });
        const allowed = candidates.filter((candidate) => candidate.allowed);
        const top = [...allowed].sort((a, b) => b.score - a.score || a.sendAtMs - b.sendAtMs).slice(0, config.topSlots);
        expect(decision.topSlots).toEqual(top.map(({ sendAtMs, hourOfWeek, score }) => ({ sendAtMs, hourOfWeek, score })));
        if (['NONE', 'NOW', 'QUIET_HOURS'].includes(decision.bindingConstraint) && allowed.length > 0) {
          expect(decision.sendAtMs).toBe(inboxOracle(candidates, reference.scores, config.inboxHalfLifeHours)!.sendAtMs);
        }
        const reading = DateTime.fromMillis(decision.sendAtMs, { zone: luxonZone(zone) });
        expect(Date.parse(decision.localSendTime)).toBe(decision.sendAtMs);
        expect(decision.localSendTime.slice(11, 16)).toBe(reading.toFormat('HH:mm'));
      }),
      { numRuns: 250 },
    );
  });
});
