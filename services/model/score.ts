import { CHANNELS, slotValues, type DecayParams, type ModelChannel, type Profile, type Signal } from './profile.ts';
import { HOURS_PER_WEEK } from './time/zones.ts';

export const MODEL_VERSION = 'sto-hier-first-v1';

export interface ModelParams extends DecayParams {
  /** Weight of all human engagement beside the first engagement of the day. */
  allEngagementWeight: number;
  /** Weight of the same signals on the recipient's other channels. */
  otherChannelWeight: number;
  /** Pseudo-counts: individual hour-of-week toward the individual hour-of-day prior. */
  individualStrength: number;
  /** Pseudo-counts: individual hour-of-day toward the cohort. */
  hourOfDayStrength: number;
  /** Pseudo-counts: cohort toward the global population. */
  cohortStrength: number;
  /** Circular smoothing kernel across neighbouring hours (symmetric, centre first). */
  smoothing: readonly number[];
  /** Hours after the send in which an engagement counts (the score integrates over them). */
  arrivalWindowHours: number;
  /** How strongly engagement right after known sends is discounted (exposure bias). */
  exposureDiscount: number;
  /**
   * Decay sets the relative weight of recent versus old habits; the amount of individual evidence
   * (what shrinkage weighs against the prior) is the number of active days seen, undecayed, so a
   * quiet spell does not erase a well-known habit.
   */
  evidenceFromActiveDays: boolean;
}

export const DEFAULT_MODEL_PARAMS: Readonly<ModelParams> = Object.freeze({
  halfLifeDays: 365,
  allEngagementWeight: 0,
  otherChannelWeight: 0.5,
  individualStrength: 4,
  hourOfDayStrength: 4,
  cohortStrength: 20,
  smoothing: Object.freeze([0.5, 0.25]),
  arrivalWindowHours: 2,
  exposureDiscount: 0.5,
  evidenceFromActiveDays: true,
});

export type Objective = 'OPEN' | 'CLICK';

export interface SlotScores {
  /** Predicted chance of engaging within the arrival window after a send at each local slot. */
  scores: Float64Array;
  evidence: { individual: number; cohort: number; global: number };
  historyEvents: number;
  historyActiveDays: number;
}

function smooth(values: Float64Array, kernel: readonly number[], period: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    let sum = (kernel[0] ?? 1) * values[i]!;
    for (let k = 1; k < kernel.length; k++) {
      sum += kernel[k]! * (values[(i + k) % period]! + values[(i - k + period) % period]!);
    }
    out[i] = sum;
  }
  return out;
}

function total(values: Float64Array): number {
  let sum = 0;
  for (const value of values) sum += value;
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

/**
 * Engagement evidence per local slot: the first engagement of the day (what a send should
 * precede) plus a share of all human engagement, on the trigger's channel and, weighed down, on
 * the others. Machine opens never count. Where sends are known, engagement in the hours right
 * after them is discounted: it happened because a message arrived, not because of a habit.
 */
function evidence(profile: Profile, channel: ModelChannel, objective: Objective, atMs: number, params: ModelParams): Float64Array {
  const out = new Float64Array(HOURS_PER_WEEK);
  const signals = objective === 'CLICK' ? CLICK_SIGNALS : OPEN_SIGNALS;
  for (const other of CHANNELS) {
    const channelWeight = other === channel ? 1 : params.otherChannelWeight;
    if (channelWeight === 0) continue;
    const first = slotValues(profile, other, 'FIRST_ENGAGEMENT', atMs, params);
    const exposure = slotValues(profile, other, 'EXPOSURE', atMs, params);
    const exposureTotal = total(exposure);
    for (let slot = 0; slot < HOURS_PER_WEEK; slot++) out[slot]! += channelWeight * first[slot]!;
    for (const [signal, weight] of signals) {
      const values = slotValues(profile, other, signal, atMs, params);
      for (let slot = 0; slot < HOURS_PER_WEEK; slot++) out[slot]! += channelWeight * weight * params.allEngagementWeight * values[slot]!;
    }
    if (exposureTotal > 0 && params.exposureDiscount > 0) {
      // Share of sends that landed in this slot or the one before it.
      for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
        const recent = (exposure[slot]! + exposure[(slot + HOURS_PER_WEEK - 1) % HOURS_PER_WEEK]!) / exposureTotal;
        out[slot] = out[slot]! / (1 + params.exposureDiscount * recent * HOURS_PER_WEEK / 2);
      }
    }
  }
  return out;
}

/**
 * The model. Individual hour-of-week evidence is shrunk toward the individual's own hour-of-day
 * pattern (spread over weekdays like the cohort spreads it), that toward the time-zone cohort,
 * and the cohort toward the global population: a Dirichlet-style hierarchy in which each level
 * speaks in proportion to its (decayed) evidence. The score of a slot integrates the predicted
 * engagement over the arrival window after it.
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

  const globalRaw = input.global ? smooth(evidence(input.global, channel, objective, atMs, params), kernel, HOURS_PER_WEEK) : new Float64Array(HOURS_PER_WEEK);
  const globalTotal = total(globalRaw);
  const globalDist = new Float64Array(HOURS_PER_WEEK);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) globalDist[slot] = (globalRaw[slot]! + 1e-3) / (globalTotal + 1e-3 * HOURS_PER_WEEK);

  const cohortRaw = input.cohort ? smooth(evidence(input.cohort, channel, objective, atMs, params), kernel, HOURS_PER_WEEK) : new Float64Array(HOURS_PER_WEEK);
  const cohortTotal = total(cohortRaw);
  const cohortDist = new Float64Array(HOURS_PER_WEEK);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    cohortDist[slot] = (cohortRaw[slot]! + params.cohortStrength * globalDist[slot]!) / (cohortTotal + params.cohortStrength);
  }

  const own = smooth(evidence(input.profile, channel, objective, atMs, params), kernel, HOURS_PER_WEEK);
  let ownTotal = total(own);
  if (params.evidenceFromActiveDays && ownTotal > 0 && input.profile.activeDays > 0) {
    const scale = input.profile.activeDays / ownTotal;
    for (let slot = 0; slot < HOURS_PER_WEEK; slot++) own[slot] = own[slot]! * scale;
    ownTotal = input.profile.activeDays;
  }
  // The individual's hour-of-day pattern, pooled over the week.
  const hourOfDay = new Float64Array(24);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) hourOfDay[slot % 24]! += own[slot]!;
  const cohortHourTotals = new Float64Array(24);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) cohortHourTotals[slot % 24]! += cohortDist[slot]!;
  const dayPrior = new Float64Array(HOURS_PER_WEEK);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const hour = slot % 24;
    const spread = cohortDist[slot]! / (cohortHourTotals[hour]! || 1);
    dayPrior[slot] = (hourOfDay[hour]! * spread + params.hourOfDayStrength * cohortDist[slot]!) / (ownTotal + params.hourOfDayStrength);
  }
  const predicted = new Float64Array(HOURS_PER_WEEK);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    predicted[slot] = (own[slot]! + params.individualStrength * dayPrior[slot]!) / (ownTotal + params.individualStrength);
  }
  const scores = new Float64Array(HOURS_PER_WEEK);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    let sum = 0;
    for (let k = 0; k < params.arrivalWindowHours; k++) sum += predicted[(slot + k) % HOURS_PER_WEEK]!;
    scores[slot] = Math.min(1, sum);
  }

  const individual = ownTotal / (ownTotal + Math.min(params.individualStrength, params.hourOfDayStrength) || 1);
  const cohortShare = cohortTotal / (cohortTotal + params.cohortStrength);
  return {
    scores,
    evidence: {
      individual,
      cohort: (1 - individual) * cohortShare,
      global: (1 - individual) * (1 - cohortShare),
    },
    historyEvents: input.profile.events,
    historyActiveDays: input.profile.activeDays,
  };
}

export function isThinHistory(profile: Profile, minActiveDays: number): boolean {
  return profile.activeDays < minActiveDays;
}
