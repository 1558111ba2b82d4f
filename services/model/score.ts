import { CELL_COUNT, cellBase, CHANNELS, decayFactorTo, denseCells, recentBase, recentRowBit, recentWeight, rowBit, sharedDenseCells, type DenseCells, type DecayParams, type ModelChannel, type Profile, type Signal } from './profile.ts';
import { HOURS_PER_WEEK } from './time/local-slot.ts';

export const MODEL_VERSION = 'sto-hier-first-v2';

export interface ModelParams extends DecayParams {
  /** Weight of all human engagement beside the first engagement of the day. */
  allEngagementWeight: number;
  /**
   * CLICK and CONVERSION objectives: weight of each click or conversion beside the first
   * engagement of the day. Under CONVERSION that mass is spread as the conversions are, shrunk
   * toward the clicks by `conversionStrength`.
   */
  clickObjectiveWeight: number;
  /**
   * Pseudo-conversions: under CONVERSION the slot pattern of the objective's evidence is
   * (conversions + strength x click pattern) / (conversion count + strength), so with few
   * conversions it is mostly the click pattern (clicks and conversions) and with many mostly the
   * conversions' own.
   */
  conversionStrength: number;
  /** Weight of the same signals on the recipient's other channels. */
  otherChannelWeight: number;
  /**
   * Pseudo-days: the individual's hour-of-day pattern on a given weekday toward the same
   * individual's pattern on that kind of day (weekday or weekend), or toward their whole-week
   * pattern when that level is off.
   */
  individualStrength: number;
  /**
   * Pseudo-days: the individual's weekday (or weekend) pattern toward their whole-week pattern.
   * Infinity turns the level off.
   */
  dayTypeStrength: number;
  /** Pseudo-days: the individual's whole-week hour-of-day pattern toward the cohort's. */
  hourOfDayStrength: number;
  /** Pseudo-days: the individual's share of activity per weekday toward the cohort's. */
  dayShareStrength: number;
  /** Pseudo-counts: cohort toward the global population. */
  cohortStrength: number;
  /** Circular smoothing kernel across neighbouring hours (symmetric, centre first; normalized to sum 1). */
  smoothing: readonly number[];
  /** Hours after the send in which an engagement counts (the score integrates over them). */
  arrivalWindowHours: number;
  /** How strongly engagement right after known sends is discounted (exposure bias). */
  exposureDiscount: number;
  /**
   * When true, decay sets only the relative weight of recent versus old habits and the amount of
   * individual evidence (what shrinkage weighs against the prior) is the number of active days
   * seen, undecayed. When false (the default, better in the backtest), the amount is the decayed
   * evidence itself: old habits also count for less against the prior.
   */
  evidenceFromActiveDays: boolean;
  /**
   * A session carries on: the day-conditional chance of engaging in the hours right after the
   * latest human engagement is raised by this share of a day, spread over the following hours
   * with the half-life below (0 = off).
   */
  recentActivityWeight: number;
  recentActivityHalfLifeHours: number;
}

/**
 * Chosen with bench/tune-model.ts by cross-validation over four folds, the two halves of the
 * persons (a stable hash of the id) of each of the two logs in data/ (see the harness and the
 * README's backtest section). How fast habits are forgotten differs between the logs (rails
 * gains from forgetting per active day, git loses), so it is not a constant: each recipient's own
 * predictive record weighs a long and a recent layer (recentDayDecay and the fields after it).
 * The weekday/weekend level is off (infinite strength): it helps rails a little and costs git more.
 */
export const DEFAULT_MODEL_PARAMS: Readonly<ModelParams> = Object.freeze({
  halfLifeDays: 365,
  activeDayDecay: 1,
  allEngagementWeight: 0,
  clickObjectiveWeight: 1,
  conversionStrength: 10,
  otherChannelWeight: 0.5,
  individualStrength: 12,
  dayTypeStrength: Number.POSITIVE_INFINITY,
  hourOfDayStrength: 4,
  dayShareStrength: 7,
  cohortStrength: 20,
  smoothing: Object.freeze([0.5, 0.25]),
  arrivalWindowHours: 2,
  exposureDiscount: 0.5,
  evidenceFromActiveDays: false,
  recentActivityWeight: 0.5,
  recentActivityHalfLifeHours: 2,
  recentDayDecay: 0.9,
  recentPriorDays: 4,
  recentForget: 1,
  recentMaxLogOdds: 4,
});

/** What a send should bring about; CONVERSION is scored from conversions, shrunk toward clicks where they are few. */
export type Objective = 'OPEN' | 'CLICK' | 'CONVERSION';

export interface SlotScores {
  /** Predicted chance of engaging within the arrival window after a send at each local slot. */
  scores: Float64Array;
  /**
   * The predicted engagement in each slot itself (what `scores` integrates over the arrival
   * window), for callers that integrate over a window of their own.
   */
  slotMass: Float64Array;
  evidence: { individual: number; cohort: number; global: number };
  historyEvents: number;
  historyActiveDays: number;
}

/** Circular smoothing; the kernel is normalized to sum 1, so smoothing moves evidence, never adds any. */
function smooth(values: Float64Array, kernel: readonly number[], period: number, out: Float64Array): Float64Array {
  const centre = kernel[0] ?? 1;
  let weight = centre;
  for (let k = 1; k < kernel.length; k++) weight += 2 * kernel[k]!;
  // The usual three-hour kernel without the general loop's index arithmetic (same operations,
  // same order, so the same bits; x / 1 is x exactly).
  if (kernel.length === 2 && values.length === period && period >= 2 && weight > 0) return smoothThree(values, centre, kernel[1]!, weight, out);
  for (let i = 0; i < values.length; i++) {
    let sum = centre * values[i]!;
    for (let k = 1; k < kernel.length; k++) {
      const after = i + k < period ? i + k : (i + k) % period;
      const before = i - k >= 0 ? i - k : (i - k + period) % period;
      sum += kernel[k]! * (values[after]! + values[before]!);
    }
    out[i] = weight > 0 ? sum / weight : values[i]!;
  }
  return out;
}

function smoothThree(values: Float64Array, centre: number, side: number, weight: number, out: Float64Array): Float64Array {
  const last = values.length - 1;
  const divide = weight !== 1;
  let before = values[last]!;
  let current = values[0]!;
  for (let i = 0; i < last; i++) {
    const after = values[i + 1]!;
    const sum = centre * current + side * (after + before);
    out[i] = divide ? sum / weight : sum;
    before = current;
    current = after;
  }
  const sum = centre * current + side * (values[0]! + before);
  out[last] = divide ? sum / weight : sum;
  return out;
}

function total(values: Float64Array): number {
  let sum = 0;
  for (let index = 0; index < values.length; index++) sum += values[index]!;
  return sum;
}

const OPEN_SIGNALS: readonly [Signal, number][] = [
  ['HUMAN_OPEN', 1],
  ['SESSION', 1],
  ['CLICK', 1],
  ['CONVERSION', 1],
];
const CLICK_SIGNALS: readonly [Signal, number][] = [
  ['CLICK', 3],
  ['CONVERSION', 3],
  ['HUMAN_OPEN', 0.5],
  ['SESSION', 0.5],
];

const CLICK_OBJECTIVE_SIGNALS: readonly Signal[] = ['CLICK', 'CONVERSION'];

// Row offsets of each channel's signals in a dense cell array, looked up once, with the rows
// whose cells feed the channel's evidence per objective (when all are empty, it adds nothing).
const ROWS = CHANNELS.map((channel) => ({
  channel,
  firstEngagementBit: rowBit(channel, 'FIRST_ENGAGEMENT') | recentRowBit(channel),
  openBits: OPEN_SIGNALS.reduce((bits, [signal]) => bits | rowBit(channel, signal), 0),
  clickBits: CLICK_SIGNALS.reduce((bits, [signal]) => bits | rowBit(channel, signal), 0),
  clickObjectiveBits: CLICK_OBJECTIVE_SIGNALS.reduce((bits, signal) => bits | rowBit(channel, signal), 0),
  firstEngagement: cellBase(channel, 'FIRST_ENGAGEMENT'),
  recent: recentBase(channel),
  exposure: cellBase(channel, 'EXPOSURE'),
  exposureBit: rowBit(channel, 'EXPOSURE'),
  clickObjectiveRowBits: CLICK_OBJECTIVE_SIGNALS.map((signal) => rowBit(channel, signal)),
  open: OPEN_SIGNALS.map(([signal, weight]) => ({ base: cellBase(channel, signal), weight })),
  clickSignals: CLICK_SIGNALS.map(([signal, weight]) => ({ base: cellBase(channel, signal), weight })),
  clickObjective: CLICK_OBJECTIVE_SIGNALS.map((signal) => cellBase(channel, signal)),
  click: cellBase(channel, 'CLICK'),
  conversion: cellBase(channel, 'CONVERSION'),
}));

/**
 * Scratch for one profile's decayed cells: scoring is synchronous and reads one profile's
 * cells completely before the next, so one buffer serves every call (no 37 kB per profile).
 */
const CELLS_SCRATCH = new Float64Array(CELL_COUNT);
const OWN_SCRATCH = new Float64Array(HOURS_PER_WEEK);
const EXPOSURE_SCRATCH = new Float64Array(HOURS_PER_WEEK);

/** The evidence of an individual's profile, in EVIDENCE_SCRATCH. */
function ownEvidence(profile: Profile, channel: ModelChannel, objective: Objective, atMs: number, params: ModelParams): Float64Array {
  lastOwnCells = denseCells(profile, CELLS_SCRATCH, lastOwnCells);
  return evidence(lastOwnCells, decayFactorTo(profile, atMs, params), channel, objective, params, recentWeight(profile, params));
}

/** What the last ownEvidence wrote into CELLS_SCRATCH. */
let lastOwnCells: DenseCells | undefined;

/** The evidence of an aggregate (cohort, population), whose dense cells are shared by decisions. */
function sharedEvidence(profile: Profile, channel: ModelChannel, objective: Objective, atMs: number, params: ModelParams): Float64Array {
  return evidence(sharedDenseCells(profile), decayFactorTo(profile, atMs, params), channel, objective, params, 0);
}

// Intermediate arrays of scoreSlots, reused: it is synchronous and returns fresh arrays only
// for what leaves it (scores, slotMass).
const EVIDENCE_SCRATCH = new Float64Array(HOURS_PER_WEEK);
const GLOBAL_RAW = new Float64Array(HOURS_PER_WEEK);
const GLOBAL_DIST = new Float64Array(HOURS_PER_WEEK);
const COHORT_RAW = new Float64Array(HOURS_PER_WEEK);
const COHORT_DIST = new Float64Array(HOURS_PER_WEEK);
const COHORT_BY_DAY = new Float64Array(HOURS_PER_WEEK);
const COHORT_DAY_SHARE = new Float64Array(7);
const OWN_SMOOTHED = new Float64Array(HOURS_PER_WEEK);
const HOUR_OF_DAY = new Float64Array(24);
const BY_TYPE = new Float64Array(48);
const TYPE_TOTALS = new Float64Array(2);
const DAY_TOTALS = new Float64Array(7);

/**
 * Engagement evidence per local slot: the first engagement of the day (what a send should
 * precede) plus a share of all human engagement and, for the CLICK objective, every click and
 * conversion, on the trigger's channel and, weighed down, on the others. Machine opens never
 * count. Where sends are known, engagement in the hours right after them is discounted: it
 * happened because a message arrived, not because of a habit.
 */
function evidence(dense: DenseCells, factor: number, channel: ModelChannel, objective: Objective, params: ModelParams, recent: number): Float64Array {
  const out = EVIDENCE_SCRATCH.fill(0);
  const own = OWN_SCRATCH;
  const exposure = EXPOSURE_SCRATCH;
  const stored = dense.values;
  // Each value is its stored cell times the decay factor, as slotValues computes it.
  for (const rows of ROWS) {
    const channelWeight = rows.channel === channel ? 1 : params.otherChannelWeight;
    if (channelWeight === 0) continue;
    // Every value of an empty channel is 0 and adds exactly nothing (a finite weight times 0).
    const feeds =
      rows.firstEngagementBit |
      (params.allEngagementWeight > 0 ? (objective !== 'OPEN' ? rows.clickBits : rows.openBits) : 0) |
      (objective !== 'OPEN' && params.clickObjectiveWeight > 0 ? rows.clickObjectiveBits : 0);
    if ((dense.rows & feeds) === 0 && Number.isFinite(channelWeight)) continue;
    // First engagements: the long memory and the recent layer, mixed by the recipient's own record.
    if (recent > 0) {
      const keep = 1 - recent;
      for (let slot = 0, base = rows.firstEngagement, fast = rows.recent; slot < HOURS_PER_WEEK; slot++) own[slot] = (keep * stored[base + slot]! + recent * stored[fast + slot]!) * factor;
    } else {
      for (let slot = 0, base = rows.firstEngagement; slot < HOURS_PER_WEEK; slot++) own[slot] = stored[base + slot]! * factor;
    }
    if (params.allEngagementWeight > 0) {
      for (const { base, weight } of objective !== 'OPEN' ? rows.clickSignals : rows.open) {
        for (let slot = 0; slot < HOURS_PER_WEEK; slot++) own[slot]! += weight * params.allEngagementWeight * (stored[base + slot]! * factor);
      }
    }
    if (objective === 'CLICK' && params.clickObjectiveWeight > 0) {
      const skipEmpty = Number.isFinite(params.clickObjectiveWeight);
      for (let signal = 0; signal < rows.clickObjective.length; signal++) {
        // An empty row adds a finite weight times 0 to every slot: exactly nothing.
        if (skipEmpty && (dense.rows & rows.clickObjectiveRowBits[signal]!) === 0) continue;
        const base = rows.clickObjective[signal]!;
        for (let slot = 0; slot < HOURS_PER_WEEK; slot++) own[slot]! += params.clickObjectiveWeight * (stored[base + slot]! * factor);
      }
    } else if (objective === 'CONVERSION' && params.clickObjectiveWeight > 0) {
      addConversionEvidence(own, stored, rows.click, rows.conversion, factor, params);
    }
    // A channel's engagement is discounted by that channel's sends only: the share of its sends
    // that landed in this slot or the one before it.
    // An empty exposure row (no sends known on the channel) totals 0: nothing is discounted.
    let exposureTotal = 0;
    if ((dense.rows & rows.exposureBit) !== 0) {
      for (let slot = 0, base = rows.exposure; slot < HOURS_PER_WEEK; slot++) {
        const value = stored[base + slot]! * factor;
        exposure[slot] = value;
        exposureTotal += value;
      }
    }
    if (exposureTotal > 0 && params.exposureDiscount > 0) {
      let previous = exposure[HOURS_PER_WEEK - 1]!;
      for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
        const current = exposure[slot]!;
        const recent = (current + previous) / exposureTotal;
        out[slot]! += channelWeight * (own[slot]! / (1 + (params.exposureDiscount * recent * HOURS_PER_WEEK) / 2));
        previous = current;
      }
    } else {
      for (let slot = 0; slot < HOURS_PER_WEEK; slot++) out[slot]! += channelWeight * own[slot]!;
    }
  }
  return out;
}

/**
 * CONVERSION: the clicks' and conversions' mass (as CLICK adds it), spread over the slots as
 * the conversions are, shrunk toward the click pattern with `conversionStrength` pseudo-
 * conversions: mass x (conversions[s] + strength x clicksAndConversions[s] / mass) / (conversions + strength),
 * that is (mass x conversions[s] + strength x clicksAndConversions[s]) / (conversions + strength).
 * No conversions: exactly CLICK's evidence; many: the conversions' pattern.
 */
function addConversionEvidence(own: Float64Array, stored: Float64Array, clickBase: number, conversionBase: number, factor: number, params: ModelParams): void {
  let conversions = 0;
  let mass = 0;
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const conversion = stored[conversionBase + slot]! * factor;
    conversions += conversion;
    mass += stored[clickBase + slot]! * factor + conversion;
  }
  const strength = params.conversionStrength;
  if (!(conversions + strength > 0)) return;
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const conversion = stored[conversionBase + slot]! * factor;
    const both = stored[clickBase + slot]! * factor + conversion;
    own[slot]! += (params.clickObjectiveWeight * (mass * conversion + strength * both)) / (conversions + strength);
  }
}

const DAYS = 7;
const HOUR_MS = 3_600_000;

/** Monday = 0 ... Sunday = 6; days 5 and 6 are the weekend. */
function dayType(day: number): number {
  return day >= 5 ? 1 : 0;
}

/**
 * Posterior mean of a share: `count` of `total` observed, `strength` pseudo-observations at the
 * prior share. An infinite strength is the prior itself (the level is off); a zero one with no
 * observations is the prior too.
 */
function shrink(count: number, total: number, strength: number, prior: number): number {
  if (strength === Number.POSITIVE_INFINITY || total + strength <= 0) return prior;
  return (count + strength * prior) / (total + strength);
}

/** Normalizes each day's 24 values of a week to sum to 1 (uniform where a day is empty). */
function perDay(values: Float64Array, out: Float64Array): Float64Array {
  for (let day = 0; day < DAYS; day++) {
    let sum = 0;
    for (let hour = 0; hour < 24; hour++) sum += values[day * 24 + hour]!;
    for (let hour = 0; hour < 24; hour++) out[day * 24 + hour] = sum > 0 ? values[day * 24 + hour]! / sum : 1 / 24;
  }
  return out;
}

/**
 * The model. Per weekday, the individual's hour-of-day pattern (of the first engagement of the
 * day) is shrunk toward their pattern on that kind of day (weekday or weekend), that toward their
 * whole-week pattern, that toward the time-zone cohort's pattern for the weekday, and the cohort
 * toward the global population: a Dirichlet-style hierarchy in which each level speaks in
 * proportion to its (decayed) evidence, in active days. Each day's pattern is weighed by the
 * individual's share of activity on that weekday. A recent human engagement raises the hours
 * right after it. The score of a slot integrates the predicted engagement over the arrival window
 * after it.
 */
export function scoreSlots(input: {
  profile: Profile;
  cohort: Profile | null;
  global: Profile | null;
  channel: ModelChannel;
  objective: Objective;
  atMs: number;
  params?: ModelParams;
}): SlotScores {
  const params = input.params ?? DEFAULT_MODEL_PARAMS;
  const { channel, objective, atMs } = input;
  const kernel = params.smoothing;

  const globalRaw = input.global ? smooth(sharedEvidence(input.global, channel, objective, atMs, params), kernel, HOURS_PER_WEEK, GLOBAL_RAW) : GLOBAL_RAW.fill(0);
  const globalTotal = total(globalRaw);
  const globalDist = GLOBAL_DIST;
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) globalDist[slot] = (globalRaw[slot]! + 1e-3) / (globalTotal + 1e-3 * HOURS_PER_WEEK);

  const cohortRaw = input.cohort ? smooth(sharedEvidence(input.cohort, channel, objective, atMs, params), kernel, HOURS_PER_WEEK, COHORT_RAW) : COHORT_RAW.fill(0);
  const cohortTotal = total(cohortRaw);
  const cohortDist = COHORT_DIST;
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    cohortDist[slot] = (cohortRaw[slot]! + params.cohortStrength * globalDist[slot]!) / (cohortTotal + params.cohortStrength);
  }
  const cohortByDay = perDay(cohortDist, COHORT_BY_DAY);
  const cohortDayShare = COHORT_DAY_SHARE.fill(0);
  for (let day = 0, slot = 0; day < DAYS; day++) for (let hour = 0; hour < 24; hour++, slot++) cohortDayShare[day]! += cohortDist[slot]!;

  const own = smooth(ownEvidence(input.profile, channel, objective, atMs, params), kernel, HOURS_PER_WEEK, OWN_SMOOTHED);
  let ownTotal = total(own);
  if (params.evidenceFromActiveDays && ownTotal > 0 && input.profile.activeDays > 0) {
    const scale = input.profile.activeDays / ownTotal;
    for (let slot = 0; slot < HOURS_PER_WEEK; slot++) own[slot] = own[slot]! * scale;
    ownTotal = input.profile.activeDays;
  }
  // Pooled levels: whole week, kind of day (weekday, weekend), weekday.
  const hourOfDay = HOUR_OF_DAY.fill(0);
  const byType = BY_TYPE.fill(0);
  const typeTotals = TYPE_TOTALS.fill(0);
  const dayTotals = DAY_TOTALS.fill(0);
  for (let day = 0, slot = 0; day < DAYS; day++) {
    const type = dayType(day);
    for (let hour = 0; hour < 24; hour++, slot++) {
      const value = own[slot]!;
      hourOfDay[hour]! += value;
      byType[type * 24 + hour]! += value;
      typeTotals[type]! += value;
      dayTotals[day]! += value;
    }
  }
  const predicted = freshSlotArray();
  for (let day = 0; day < DAYS; day++) {
    const type = dayType(day);
    const share = shrink(dayTotals[day]!, ownTotal, params.dayShareStrength, cohortDayShare[day]!);
    for (let hour = 0; hour < 24; hour++) {
      const slot = day * 24 + hour;
      const week = shrink(hourOfDay[hour]!, ownTotal, params.hourOfDayStrength, cohortByDay[slot]!);
      const kind = shrink(byType[type * 24 + hour]!, typeTotals[type]!, params.dayTypeStrength, week);
      predicted[slot] = share * shrink(own[slot]!, dayTotals[day]!, params.individualStrength, kind);
    }
  }
  addRecentActivity(predicted, input.profile, atMs, params);
  const scores = freshSlotArray();
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    let sum = 0;
    for (let k = 0, at = slot; k < params.arrivalWindowHours; k++, at = at + 1 < HOURS_PER_WEEK ? at + 1 : 0) sum += predicted[at]!;
    scores[slot] = Math.min(1, sum);
  }

  const individual = ownTotal / (ownTotal + params.hourOfDayStrength || 1);
  const cohortShare = cohortTotal / (cohortTotal + params.cohortStrength);
  return {
    scores,
    slotMass: predicted,
    evidence: {
      individual,
      cohort: (1 - individual) * cohortShare,
      global: (1 - individual) * (1 - cohortShare),
    },
    historyEvents: input.profile.events,
    historyActiveDays: input.profile.activeDays,
  };
}

// The arrays scoreSlots returns are views into a shared slab, every entry written before it
// returns: a Float64Array of its own costs an off-heap allocation and its finalization (about
// 0.7 µs each, two per decision), a view of an existing buffer only the object. Callers read the
// scores and drop them; one kept for long keeps its slab (43 kB) alive.
const SLAB_ARRAYS = 32;
let slab = new ArrayBuffer(0);
let slabOffset = 0;

function freshSlotArray(): Float64Array {
  if (slabOffset === slab.byteLength) {
    slab = new ArrayBuffer(SLAB_ARRAYS * HOURS_PER_WEEK * Float64Array.BYTES_PER_ELEMENT);
    slabOffset = 0;
  }
  const array = new Float64Array(slab, slabOffset, HOURS_PER_WEEK);
  slabOffset += HOURS_PER_WEEK * Float64Array.BYTES_PER_ELEMENT;
  return array;
}

/**
 * The carry-on of a session: the latest human engagement (taken at the middle of its local hour)
 * adds, to each slot after it, the share of an exponential (half-life in hours) falling in that
 * slot, times the weight and the day's share. Only the next occurrence of a slot after `atMs` counts.
 */
function addRecentActivity(predicted: Float64Array, profile: Profile, atMs: number, params: ModelParams): void {
  const weight = params.recentActivityWeight;
  const halfLife = params.recentActivityHalfLifeHours;
  if (!(weight > 0) || !(halfLife > 0) || profile.lastEngagedSlot < 0) return;
  const elapsedHours = (atMs - profile.lastEngagedMs) / HOUR_MS;
  if (!(elapsedHours < HOURS_PER_WEEK) || elapsedHours < -1) return;
  const survive = survivalTable(halfLife);
  const dayShares = DAY_SHARES.fill(0);
  for (let day = 0, slot = 0; day < DAYS; day++) for (let hour = 0; hour < 24; hour++, slot++) dayShares[day]! += predicted[slot]!;
  for (let day = 0, slot = 0; day < DAYS; day++) {
    for (let hour = 0; hour < 24; hour++, slot++) {
      // Hours from the engagement to the start of this slot's next occurrence: start = hours - 0.5.
      let hours = (slot - profile.lastEngagedSlot + HOURS_PER_WEEK) % HOURS_PER_WEEK;
      if (hours + 0.5 <= elapsedHours - 0.5) hours += HOURS_PER_WEEK;
      const mass = survive[hours]! - survive[hours + 1]!;
      if (mass > 1e-9) predicted[slot] = predicted[slot]! + weight * dayShares[day]! * mass;
    }
  }
}

const DAY_SHARES = new Float64Array(DAYS);

/**
 * survive[h] = 2^(-max(0, h - 0.5) / halfLife): the share of a session's carry-on left at the
 * start of each slot, h hours after the engagement's slot, for h = 0..2 weeks. The same powers
 * for every decision, so they are computed once per half-life.
 */
function survivalTable(halfLife: number): Float64Array {
  let table = SURVIVAL_TABLES.get(halfLife);
  if (table === undefined) {
    table = new Float64Array(2 * HOURS_PER_WEEK + 2);
    for (let hours = 0; hours < table.length; hours++) table[hours] = 2 ** (-Math.max(0, hours - 0.5) / halfLife);
    if (SURVIVAL_TABLES.size >= 64) SURVIVAL_TABLES.clear();
    SURVIVAL_TABLES.set(halfLife, table);
  }
  return table;
}

const SURVIVAL_TABLES = new Map<number, Float64Array>();

export function isThinHistory(profile: Profile, minActiveDays: number): boolean {
  return profile.activeDays < minActiveDays;
}
