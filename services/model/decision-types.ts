import type {
  Arm,
  BindingConstraint,
  Channel,
  DecisionReason,
  Objective,
  QuietHours,
  QuietHoursPolicy,
  TimeZoneSource,
  TriggerKind,
  Urgency,
} from '../shared/contracts/record-types.ts';
import { ConfigError } from '../shared/errors.ts';
import { resolveTimeZone } from './time/time-zone.ts';

export type { Arm, BindingConstraint, Channel, DecisionReason, Objective, QuietHours, QuietHoursPolicy, TimeZoneSource, TriggerKind, Urgency };

/** The fields of a send trigger the decision needs (the engine maps SendTrigger onto this). */
export interface DecisionTrigger {
  triggerId: string;
  recipientId: string;
  campaignId: string;
  channel: Channel;
  triggerKind: TriggerKind;
  urgency: Urgency;
  occurredAtMs: number;
  /** IANA name or fixed offset; null = the learned zone, else the configured default. */
  timeZone: string | null;
  /** The slot is chosen in [now, now + windowHours], 1..168. */
  windowHours: number;
  /** Explicit send instant: optimization off. */
  sendAtMs: number | null;
  quietHours: QuietHours | null;
  /** The campaign's default local send time as minute of day 0..1439 (CONTROL and fallback). */
  defaultLocalMinute: number | null;
  objective: Objective;
  /** Holdout share for this campaign; null = the configured share. */
  holdoutShare: number | null;
  /** null = the configured policy (BEST_ALLOWED unless configured otherwise). */
  quietHoursPolicy: QuietHoursPolicy | null;
  /** Size of the opaque payload in bytes, checked against the limit; absent = 0. */
  payloadBytes?: number;
  /** The window opens this many hours after the trigger (a sequence step's); absent = 0, at once. */
  windowStartHours?: number;
  /** Send-time optimization off (false): the default local time, as the holdout gets. Absent = on. */
  optimize?: boolean;
  /**
   * Whether the send bypasses the wait (the settings' urgency policy, an immediate step), and
   * whether quiet hours still hold it. Absent: an URGENT trigger on `urgentBypassChannels`,
   * quiet hours respected.
   */
  bypass?: Bypass;
  /** The sequence step (1..n), part of the schedule id; absent or 0 for a single send. */
  step?: number;
}

export type Bypass = 'NONE' | 'RESPECT_QUIET_HOURS' | 'IGNORE_QUIET_HOURS';

export interface EvidenceWeights {
  individual: number;
  cohort: number;
  global: number;
}

export interface HistoryDepth {
  /** Decayed count of the recipient's engagement events. */
  events: number;
  activeDays: number;
}

export interface DecisionContext {
  /** The decision's "now"; the engine passes the trigger's occurredAt so replays decide the same. */
  nowMs: number;
  /** 168 scores indexed by local hour of week (Monday 00:00 = 0), or null when there is no model. */
  slotScores: Float64Array | null;
  thinHistory: boolean;
  evidence: EvidenceWeights;
  historyDepth: HistoryDepth;
  /** The zone learned from the recipient's own events, if any. */
  learnedTimeZone: string | null;
}

export interface DecisionConfig {
  /** Zone used when neither the trigger nor the learned profile gives one. */
  defaultTimeZone: string;
  /** Share of optimizable triggers that explore a uniformly random allowed slot, 0..1. */
  explorationShare: number;
  /** Default share of recipients held out at the campaign's default time, 0..1. */
  holdoutShare: number;
  /** How many top slots a decision reports. */
  topSlots: number;
  modelVersion: string;
  /** An explicit sendAt further ahead of the trigger than this is rejected. */
  maxHorizonMs: number;
  maxPayloadBytes: number;
  maxIdLength: number;
  /** Channels on which an URGENT trigger bypasses optimization. */
  urgentBypassChannels: readonly Channel[];
  defaultQuietHoursPolicy: QuietHoursPolicy;
  /**
   * BEST_ALLOWED when the best slot of the window is quiet: a message sent at an allowed slot
   * waits in the inbox for the recipient's next visit, and is worth less the longer it waits.
   * Allowed slots are then ranked by their score plus the scores of the hours after them (up to
   * 48), each halved per this many hours of waiting, so the slot just before the habit wins
   * (0 = off: the allowed slots' own scores only, mostly noise when the habit is quiet).
   */
  inboxHalfLifeHours: number;
}

export const DEFAULT_DECISION_CONFIG: Readonly<DecisionConfig> = Object.freeze({
  defaultTimeZone: 'UTC',
  explorationShare: 0.05,
  holdoutShare: 0.05,
  topSlots: 3,
  modelVersion: 'sto-hour-of-week-v1',
  maxHorizonMs: 90 * 86_400_000,
  maxPayloadBytes: 256 * 1024,
  maxIdLength: 256,
  urgentBypassChannels: Object.freeze(['SMS'] as Channel[]),
  defaultQuietHoursPolicy: 'BEST_ALLOWED',
  inboxHalfLifeHours: 2,
});

/** A top slot as reported: instant, local hour of week, score. */
export interface SlotChoice {
  sendAtMs: number;
  hourOfWeek: number;
  score: number;
}

export interface Decision {
  /** Deterministic from triggerId, recipientId and the sequence step (hex). */
  scheduleId: string;
  /** UTC epoch ms; never before the decision's now. */
  sendAtMs: number;
  /** sendAtMs in the chosen zone, ISO 8601 with offset. */
  localSendTime: string;
  timeZone: string;
  timeZoneSource: TimeZoneSource;
  reason: DecisionReason;
  /** Probability with which the logging policy chose this slot. */
  propensity: number;
  exploration: boolean;
  arm: Arm;
  /** The best allowed slots of the window by score (empty without scores). */
  topSlots: SlotChoice[];
  evidence: EvidenceWeights;
  bindingConstraint: BindingConstraint;
  modelVersion: string;
  historyDepth: HistoryDepth;
  urgentBypass: boolean;
  /** The window the slot was chosen in: [now + windowStartHours, that + windowHours]. */
  windowStartMs: number;
  windowEndMs: number;
}

export const InvalidTriggerCode = {
  MISSING_FIELD: 'MISSING_FIELD',
  INVALID_FIELD: 'INVALID_FIELD',
  UNKNOWN_TIME_ZONE: 'UNKNOWN_TIME_ZONE',
  WINDOW_OUT_OF_RANGE: 'WINDOW_OUT_OF_RANGE',
  QUIET_HOURS_MALFORMED: 'QUIET_HOURS_MALFORMED',
  DEFAULT_LOCAL_TIME_MALFORMED: 'DEFAULT_LOCAL_TIME_MALFORMED',
  HOLDOUT_SHARE_OUT_OF_RANGE: 'HOLDOUT_SHARE_OUT_OF_RANGE',
  SEND_AT_OUT_OF_RANGE: 'SEND_AT_OUT_OF_RANGE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const;
export type InvalidTriggerCode = (typeof InvalidTriggerCode)[keyof typeof InvalidTriggerCode];

/** Why a trigger cannot be decided: it goes to the dead-letter topic with this code and message. */
export interface InvalidTrigger {
  code: InvalidTriggerCode;
  message: string;
}

export type DecisionOutcome = { ok: true; decision: Decision } | { ok: false; invalid: InvalidTrigger };

const CHANNELS: readonly Channel[] = ['EMAIL', 'PUSH', 'SMS', 'IN_APP'];
const QUIET_HOURS_POLICIES: readonly QuietHoursPolicy[] = ['BEST_ALLOWED', 'DEFER_TO_END'];

/** Defaults merged with overrides, checked once, frozen. A bad value throws ConfigError naming the field. */
export function compileDecisionConfig(overrides: Partial<DecisionConfig> = {}): Readonly<DecisionConfig> {
  const config: DecisionConfig = { ...DEFAULT_DECISION_CONFIG, ...overrides };
  const zone = resolveTimeZone(config.defaultTimeZone);
  if (!zone.ok) throw new ConfigError('defaultTimeZone', zone.reason);
  for (const field of ['explorationShare', 'holdoutShare'] as const) {
    const value = config[field];
    if (!(Number.isFinite(value) && value >= 0 && value <= 1)) throw new ConfigError(field, `${value} is not a share in 0..1`);
  }
  if (!(Number.isInteger(config.topSlots) && config.topSlots >= 0 && config.topSlots <= 168)) {
    throw new ConfigError('topSlots', `${config.topSlots} is not an integer in 0..168`);
  }
  if (typeof config.modelVersion !== 'string' || config.modelVersion === '') throw new ConfigError('modelVersion', 'must be a non-empty string');
  for (const field of ['maxHorizonMs', 'maxPayloadBytes', 'maxIdLength'] as const) {
    const value = config[field];
    if (!(Number.isInteger(value) && value > 0)) throw new ConfigError(field, `${value} is not a positive integer`);
  }
  if (!config.urgentBypassChannels.every((channel) => CHANNELS.includes(channel))) {
    throw new ConfigError('urgentBypassChannels', `${config.urgentBypassChannels.join(',')} is not a list of ${CHANNELS.join('|')}`);
  }
  if (!(Number.isFinite(config.inboxHalfLifeHours) && config.inboxHalfLifeHours >= 0)) {
    throw new ConfigError('inboxHalfLifeHours', `${config.inboxHalfLifeHours} is not a number of hours, 0 or more`);
  }
  if (!QUIET_HOURS_POLICIES.includes(config.defaultQuietHoursPolicy)) {
    throw new ConfigError('defaultQuietHoursPolicy', `${config.defaultQuietHoursPolicy} is not one of ${QUIET_HOURS_POLICIES.join('|')}`);
  }
  return Object.freeze({ ...config, defaultTimeZone: zone.zone.name, urgentBypassChannels: Object.freeze([...config.urgentBypassChannels]) });
}
