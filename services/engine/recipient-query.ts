import type { CampaignSettings, Channel, Objective, QuietHours, QuietHoursPolicy, SendTrigger, SettingsSource, TriggerKind, Urgency } from '../shared/contracts/record-types.ts';
import { ErrorCode, StoError } from '../shared/errors.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../shared/stream/state-transaction.ts';
import type { Decision } from '../model/decision-types.ts';
import { CHANNELS, SIGNALS, slotValues, type ModelChannel, type Profile } from '../model/profile.ts';
import { MODEL_VERSION, isThinHistory, scoreSlots } from '../model/score.ts';
import { formatLocalIso } from '../model/time/local-iso.ts';
import { localDateOf } from '../model/time/local-slot.ts';
import type { EngineConfig } from './config.ts';
import { RecipientState, type PooledAggregate } from './recipient-state.ts';
import { SendTimeDecider, anonymousPriors } from './send-time-decider.ts';

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;
const CHANNEL_NAMES: readonly Channel[] = CHANNELS;
const TRIGGER_KINDS: readonly TriggerKind[] = ['CAMPAIGN', 'JOURNEY', 'CART_RECOVERY', 'TRANSACTIONAL', 'OTHER'];
const URGENCIES: readonly Urgency[] = ['NORMAL', 'URGENT'];
const OBJECTIVES: readonly Objective[] = ['OPEN', 'CLICK'];
const QUIET_POLICIES: readonly QuietHoursPolicy[] = ['BEST_ALLOWED', 'DEFER_TO_END'];

/** A query parameter that does not parse: the API answers 400 with this message. */
export class QueryParameterError extends StoError {
  constructor(parameter: string, message: string) {
    super(ErrorCode.INVALID_FIELD, `${parameter}: ${message}`);
    this.name = 'QueryParameterError';
  }
}

/** Adobe's three stored scores, from the model's slot scores of one channel. */
export interface BestTimes {
  /** Per weekday (Monday first): the local hour with the highest score, and that score. */
  bestHourPerWeekday: { weekday: string; hour: number; score: number }[];
  /** The weekday with the most predicted engagement (the sum of the model's slot mass that day). */
  bestWeekday: { weekday: string; predictedEngagement: number };
  /** The best hour of that weekday. */
  bestHourOfBestWeekday: { weekday: string; hour: number; score: number };
}

/** The three scores from the 168 slot scores and slot masses of scoreSlots. Pure. */
export function bestTimes(scores: Float64Array, slotMass: Float64Array): BestTimes {
  const bestHourPerWeekday = WEEKDAYS.map((weekday, day) => {
    let hour = 0;
    for (let h = 1; h < 24; h++) if (scores[day * 24 + h]! > scores[day * 24 + hour]!) hour = h;
    return { weekday, hour, score: scores[day * 24 + hour]! };
  });
  let bestDay = 0;
  let bestMass = -1;
  for (let day = 0; day < 7; day++) {
    let mass = 0;
    for (let h = 0; h < 24; h++) mass += slotMass[day * 24 + h]!;
    if (mass > bestMass) [bestDay, bestMass] = [day, mass];
  }
  return {
    bestHourPerWeekday,
    bestWeekday: { weekday: WEEKDAYS[bestDay]!, predictedEngagement: bestMass },
    bestHourOfBestWeekday: bestHourPerWeekday[bestDay]!,
  };
}

/** 168 values (Monday 00:00 first) as 7 rows of 24. */
function weekGrid(values: Float64Array): number[][] {
  return WEEKDAYS.map((_, day) => Array.from(values.subarray(day * 24, day * 24 + 24)));
}

export interface RecipientProfileView {
  partition: number;
  modelVersion: string;
  atMs: number;
  found: boolean;
  erasedAtMs: number | null;
  learnedTimeZone: string | null;
  history: { events: number; activeDays: number; firstSeenMs: number | null; lastEngagedMs: number | null; thin: boolean };
  /** Per channel, per signal with any count: 7 weekday rows (Monday first) of 24 local hours, decayed to `atMs`. */
  heatmaps: Record<string, Record<string, number[][]>>;
  /** Per channel and objective: the model's slot scores (7×24), evidence weights and Adobe's three scores. */
  scores: Record<string, Record<string, { grid: number[][]; evidence: { individual: number; cohort: number; global: number } } & BestTimes>>;
}

export interface PreviewView {
  partition: number;
  /** What a real trigger with these settings would lead to now: a scheduled send, a send straight to the ready topic, or nothing. */
  outcome: 'scheduled' | 'ready' | 'ignored';
  ignoredBecause: 'erased' | null;
  trigger: SendTrigger;
  decision: PreviewDecision | null;
  /** Where each setting came from: the trigger, the campaign's settings or the deployment (as the scheduled send's settingsSources). */
  settingsSources: Record<string, SettingsSource>;
  /** For a campaign with sequence steps: every step's decision (the first is `decision`). */
  steps: (PreviewDecision & { step: number; settingsSources: Record<string, SettingsSource> })[];
  explanation: string[];
}

export type PreviewDecision = Omit<Decision, 'topSlots'> & { topSlots: { sendAtMs: number; hourOfWeek: number; score: number; localTime: string }[] };

/** The `at` parameter: the instant a profile is decayed to (epoch ms), `nowMs` when absent. */
export function atParameter(query: URLSearchParams, nowMs: number): number {
  const value = query.get('at');
  if (value === null || value === '') return nowMs;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 8.64e15) throw new QueryParameterError('at', `"${value}" is not an instant in epoch milliseconds`);
  return parsed;
}

/** A trigger's settings from query parameters (what the preview is asked about). */
export function previewTrigger(recipientId: string, query: URLSearchParams, nowMs: number): SendTrigger {
  const text = (name: string) => {
    const value = query.get(name);
    return value === null || value === '' ? null : value;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T | null): T | null => {
    const value = text(name);
    if (value === null) return fallback;
    const upper = value.toUpperCase() as T;
    if (!allowed.includes(upper)) throw new QueryParameterError(name, `"${value}" is not one of ${allowed.join(', ')}`);
    return upper;
  };
  const number = (name: string, fallback: number | null, min: number, max: number, integer = true): number | null => {
    const value = text(name);
    if (value === null) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed)) || parsed < min || parsed > max) {
      throw new QueryParameterError(name, `"${value}" is not ${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
    }
    return parsed;
  };
  const channel = oneOf('channel', CHANNEL_NAMES, null);
  if (channel === null) throw new QueryParameterError('channel', `is required (one of ${CHANNEL_NAMES.join(', ')})`);
  const occurredAt = atParameter(query, nowMs);
  return {
    triggerId: text('triggerId') ?? `preview-${occurredAt}`,
    recipientId,
    campaignId: text('campaignId') ?? 'preview',
    messageId: null,
    channel,
    triggerKind: oneOf('triggerKind', TRIGGER_KINDS, 'CAMPAIGN')!,
    urgency: oneOf('urgency', URGENCIES, 'NORMAL')!,
    occurredAt,
    timeZone: text('timeZone'),
    // Not given: the campaign's settings, else the deployment's, decide (as for a real trigger).
    windowHours: number('windowHours', null, 1, 168),
    sendAt: number('sendAt', null, 0, 8.64e15),
    quietHours: quietHoursParameter(text('quietHours')),
    quietHoursPolicy: oneOf('quietHoursPolicy', QUIET_POLICIES, null),
    defaultLocalMinute: localMinuteParameter('defaultLocalTime', text('defaultLocalTime')),
    objective: oneOf('objective', OBJECTIVES, null),
    holdoutShare: number('holdoutShare', null, 0, 1, false),
    payload: Buffer.alloc(0),
    attributes: {},
  };
}

/** "HH:MM" → minute of day. */
function localMinuteParameter(name: string, value: string | null): number | null {
  if (value === null) return null;
  const match = /^(\d{1,2}):(\d{2})$/.exec(value);
  const minute = match ? Number(match[1]) * 60 + Number(match[2]) : Number.NaN;
  if (!match || Number(match[2]) > 59 || !(minute >= 0 && minute < 1440)) throw new QueryParameterError(name, `"${value}" is not a local time HH:MM`);
  return minute;
}

/** "22:00-08:00" → quiet from 22:00 until 08:00 local. */
function quietHoursParameter(value: string | null): QuietHours | null {
  if (value === null) return null;
  const [start, end, ...rest] = value.split('-');
  if (start === undefined || end === undefined || rest.length > 0) throw new QueryParameterError('quietHours', `"${value}" is not a range HH:MM-HH:MM`);
  return { startMinute: localMinuteParameter('quietHours', start)!, endMinute: localMinuteParameter('quietHours', end)! };
}

/**
 * Read-only answers about one recipient from a partition's committed state, computed by the
 * engine's own code: RecipientState reads and decodes the state as the handler does, and the
 * preview runs the SendTimeDecider path a trigger takes. A fresh RecipientState per query keeps
 * nothing cached between queries, and its transaction is never committed: nothing is written.
 */
export class RecipientQuery {
  readonly #config: Readonly<EngineConfig>;

  /** The priors summed over every partition, as decisions use them (the engine's GlobalPriors). */
  readonly #priors: (aggregateKey: string) => PooledAggregate | null;

  /** The campaigns' settings, as decisions use them (the engine's CampaignSettingsTable). */
  readonly #campaignSettings: (campaignId: string) => CampaignSettings | null;

  constructor(config: Readonly<EngineConfig>, priors: (aggregateKey: string) => PooledAggregate | null, campaignSettings: (campaignId: string) => CampaignSettings | null = () => null) {
    this.#config = config;
    this.#priors = priors;
    this.#campaignSettings = campaignSettings;
  }

  #reader(store: PartitionStore): { state: RecipientState; decider: SendTimeDecider; tx: StateTransaction } {
    // A corrupt stored value is not quarantined from here (the engine does that when it meets it):
    // the query reports it as an error instead.
    const state = new RecipientState(this.#config);
    return { state, decider: new SendTimeDecider(this.#config, state.params), tx: new StateTransaction(store, new CleanCache(0)) };
  }

  async profile(store: PartitionStore, recipientId: string, atMs: number): Promise<RecipientProfileView> {
    const { state, tx } = this.#reader(store);
    const erasedAtMs = await state.erasedAt(recipientId, atMs, tx);
    const evidence = await state.evidenceFor(recipientId, null, tx, this.#priors);
    const { profile } = evidence;
    // The priors a decision may use: none pooled from fewer than k recipients is used or shown.
    const priors = anonymousPriors(evidence, this.#config.priorMinRecipients);
    const found = profile.events > 0;
    const heatmaps: RecipientProfileView['heatmaps'] = {};
    const scores: RecipientProfileView['scores'] = {};
    for (const channel of CHANNELS) {
      for (const signal of SIGNALS) {
        const values = slotValues(profile, channel, signal, atMs, state.params);
        if (!values.some((value) => value > 0)) continue;
        (heatmaps[channel] ??= {})[signal] = weekGrid(values);
      }
      if (!found || !heatmaps[channel]) continue;
      for (const objective of OBJECTIVES) {
        const scored = scoreSlots({ profile, cohort: priors.cohort, global: priors.global, channel: channel as ModelChannel, objective, atMs, params: state.params });
        (scores[channel] ??= {})[objective] = { grid: weekGrid(scored.scores), evidence: scored.evidence, ...bestTimes(scored.scores, scored.slotMass) };
      }
    }
    return {
      partition: store.partition,
      modelVersion: MODEL_VERSION,
      atMs,
      found,
      erasedAtMs,
      learnedTimeZone: profile.timeZone,
      history: historyOf(profile, this.#config.minHistoryEvents),
      heatmaps,
      scores,
    };
  }

  /** The decision a trigger with these settings would get now, by the handler's path, without emitting it. */
  async preview(store: PartitionStore, trigger: SendTrigger): Promise<PreviewView> {
    const { state, decider, tx } = this.#reader(store);
    const plan = decider.plan(trigger, this.#campaignSettings(trigger.campaignId));
    for (const planned of plan.sends) {
      const invalid = decider.validate(planned.trigger);
      if (invalid) throw new QueryParameterError('trigger', invalid);
    }
    const decisionTrigger = plan.sends[0]!.trigger;
    // The handler judges erasure against the trigger record's timestamp; a preview's record is "now".
    const erasedAt = await state.erasedAt(trigger.recipientId, trigger.occurredAt, tx);
    if (erasedAt !== null && trigger.occurredAt <= erasedAt) {
      return {
        partition: store.partition,
        outcome: 'ignored',
        ignoredBecause: 'erased',
        trigger,
        decision: null,
        settingsSources: plan.sends[0]!.sources,
        steps: [],
        explanation: ['The recipient was erased after this trigger occurred: a real trigger would be ignored.'],
      };
    }
    const evidence = await state.evidenceFor(trigger.recipientId, decider.cohortZone(decisionTrigger), tx, this.#priors);
    const decisions = plan.sends.map((planned) => {
      const decision = decider.decide(planned.trigger, evidence);
      const topSlots = decision.topSlots.map((slot) => ({ ...slot, localTime: formatLocalIso(slot.sendAtMs, decision.timeZone) }));
      return { ...decision, topSlots, step: planned.step, settingsSources: planned.sources };
    });
    const { step: _step, settingsSources, ...decision } = decisions[0]!;
    return {
      partition: store.partition,
      outcome: decision.urgentBypass && decision.sendAtMs <= trigger.occurredAt ? 'ready' : 'scheduled',
      ignoredBecause: null,
      trigger,
      decision,
      settingsSources,
      steps: decisions.length > 1 ? decisions : [],
      explanation: [...explain(decision, evidence.profile, this.#config.minHistoryEvents), provenanceLine(settingsSources)],
    };
  }
}

function historyOf(profile: Profile, minActiveDays: number): RecipientProfileView['history'] {
  return {
    events: profile.events,
    activeDays: profile.activeDays,
    firstSeenMs: profile.events > 0 ? profile.firstSeenMs : null,
    lastEngagedMs: profile.lastEngagedSlot >= 0 ? profile.lastEngagedMs : null,
    thin: isThinHistory(profile, minActiveDays),
  };
}

const REASONS: Record<Decision['reason'], string> = {
  OPTIMIZED: 'The slot with the highest predicted engagement inside the window and outside quiet hours.',
  EXPLICIT_SEND_AT: 'The trigger names its send instant: optimization is off.',
  URGENT_BYPASS: 'An urgent trigger on a bypass channel goes now.',
  CONTROL: 'The recipient is in the campaign holdout: sent at the default time, to measure lift.',
  FALLBACK_THIN_HISTORY: 'Too little history of this recipient: the default send time is used.',
  EXPLORATION: 'An exploration send: a random allowed slot, so the model keeps learning about other hours.',
};

const CONSTRAINTS: Record<Decision['bindingConstraint'], string> = {
  NONE: 'No constraint moved the send: it is the best slot of the window.',
  QUIET_HOURS: 'Quiet hours ruled out better slots.',
  QUIET_HOURS_FORCED: 'The whole window fell in quiet hours: the send was moved to their end.',
  WINDOW_END: 'The end of the window cut off better slots.',
  WINDOW_START: 'The start of the window (now) cut off better slots.',
  NOW: 'The best slot is now.',
  EXPLICIT: 'The send instant was given by the trigger.',
  DEFAULT_TIME: "The campaign's default local time applies.",
};

/** One sentence naming the settings the trigger and the campaign gave (the rest are the deployment's). */
function provenanceLine(sources: Record<string, SettingsSource>): string {
  const from = (source: SettingsSource) => Object.keys(sources).filter((name) => sources[name] === source);
  const trigger = from('TRIGGER');
  const campaign = from('CAMPAIGN');
  if (trigger.length === 0 && campaign.length === 0) return "Settings: all from the deployment's configuration.";
  const parts = [trigger.length > 0 ? `from the trigger: ${trigger.join(', ')}` : null, campaign.length > 0 ? `from the campaign: ${campaign.join(', ')}` : null];
  return `Settings ${parts.filter((part) => part !== null).join('; ')}; the rest from the deployment.`;
}

/** Plain sentences: why this slot, what held it back, how much of it is this person's own evidence. */
function explain(decision: Decision, profile: Profile, minActiveDays: number): string[] {
  const lines = [REASONS[decision.reason], CONSTRAINTS[decision.bindingConstraint]];
  lines.push(`Sends at ${decision.localSendTime} (${decision.timeZone}, zone from ${decision.timeZoneSource.toLowerCase()}).`);
  const share = (value: number) => `${Math.round(value * 100)}%`;
  lines.push(`Evidence: ${share(decision.evidence.individual)} this recipient, ${share(decision.evidence.cohort)} their time-zone cohort, ${share(decision.evidence.global)} everyone.`);
  if (isThinHistory(profile, minActiveDays)) lines.push(`History: ${profile.activeDays} active day(s), fewer than the ${minActiveDays} the model needs to trust it.`);
  else if (profile.lastActiveDay >= 0) lines.push(`History: ${profile.activeDays} active days, the latest on ${localDateOf(profile.lastActiveDay)}.`);
  return lines;
}
