import { UNKNOWN_SYMBOL, type CampaignSettings, type ReceivedSendTrigger } from '../shared/contracts/record-types.ts';
import { ErrorCode, InputError } from '../shared/errors.ts';
import { decide, validateTrigger } from '../model/decide.ts';
import { compileDecisionConfig, type Decision, type DecisionConfig, type DecisionTrigger } from '../model/decision-types.ts';
import { isThinHistory, MODEL_VERSION, scoreSlots, type ModelParams } from '../model/score.ts';
import { planSends, resolveSettings, type DeploymentSettings, type PlannedSend, type ResolvedSettings } from '../model/resolve-settings.ts';
import { DAY_MS, HOUR_MS, localSlotOf } from '../model/time/local-slot.ts';
import { resolveTimeZone } from '../model/time/time-zone.ts';
import type { EngineConfig } from './config.ts';
import { applyEngagement, emptyProfile, type Profile, type Signal } from '../model/profile.ts';
import { decodeRecipient, encodeRecipient, newRecipientRecord } from './recipient-record.ts';
import type { RecipientEvidence } from './recipient-state.ts';

/** The trigger fields that may read as UNKNOWN (a newer writer's symbol), for metrics. */
export type UnknownTriggerField = 'channel' | 'triggerKind' | 'urgency' | 'quietHoursPolicy' | 'objective';

/**
 * The decision's view of a received trigger. A symbol this engine does not know is handled
 * explicitly and reported through `onUnknown`: an unknown channel cannot be scheduled (there is
 * no such sender here), so the trigger is dead-lettered; an unknown kind is decided as OTHER, an
 * unknown urgency as NORMAL (no bypass on a value not understood), an unknown objective as OPEN,
 * an unknown quiet-hours policy as the configured one.
 */
export function toDecisionTrigger(trigger: ReceivedSendTrigger, onUnknown: (field: UnknownTriggerField) => void = () => undefined): DecisionTrigger {
  const stated = statedTrigger(trigger, onUnknown);
  // Without campaign settings: what the trigger does not state is the deployment's default.
  return { ...stated, windowHours: stated.windowHours ?? DEFAULT_WINDOW_HOURS, objective: stated.objective ?? 'OPEN' };
}

/** The window a trigger gets when neither it nor its campaign names one (the v1 contract's default). */
export const DEFAULT_WINDOW_HOURS = 24;

/** The trigger as the decision reads it, with its window and objective null when the trigger does not state them. */
function statedTrigger(
  trigger: ReceivedSendTrigger,
  onUnknown: (field: UnknownTriggerField) => void,
): Omit<DecisionTrigger, 'windowHours' | 'objective'> & { windowHours: number | null; objective: DecisionTrigger['objective'] | null } {
  const { channel, triggerKind, urgency, quietHoursPolicy, objective } = trigger;
  if (channel === UNKNOWN_SYMBOL) {
    onUnknown('channel');
    throw new InputError(
      ErrorCode.UNKNOWN_SYMBOL,
      `trigger ${trigger.triggerId}: its channel is a symbol this engine does not know (written with a newer schema, read as UNKNOWN); not scheduled: redrive it once the engine knows the channel`,
    );
  }
  if (triggerKind === UNKNOWN_SYMBOL) onUnknown('triggerKind');
  if (urgency === UNKNOWN_SYMBOL) onUnknown('urgency');
  if (quietHoursPolicy === UNKNOWN_SYMBOL) onUnknown('quietHoursPolicy');
  if (objective === UNKNOWN_SYMBOL) onUnknown('objective');
  return {
    triggerId: trigger.triggerId,
    recipientId: trigger.recipientId,
    campaignId: trigger.campaignId,
    channel,
    triggerKind: triggerKind === UNKNOWN_SYMBOL ? 'OTHER' : triggerKind,
    urgency: urgency === UNKNOWN_SYMBOL ? 'NORMAL' : urgency,
    occurredAtMs: trigger.occurredAt,
    timeZone: trigger.timeZone,
    windowHours: trigger.windowHours,
    sendAtMs: trigger.sendAt,
    quietHours: trigger.quietHours,
    quietHoursPolicy: quietHoursPolicy === UNKNOWN_SYMBOL ? null : quietHoursPolicy,
    defaultLocalMinute: trigger.defaultLocalMinute,
    objective: objective === UNKNOWN_SYMBOL ? 'OPEN' : (objective ?? null),
    holdoutShare: trigger.holdoutShare,
    payloadBytes: trigger.payload.length,
  };
}

/** Scores a recipient's evidence with the model and runs the decision flow. Pure. */
export class SendTimeDecider {
  readonly #config: Readonly<EngineConfig>;
  readonly #decisionConfig: Readonly<DecisionConfig>;
  readonly #params: ModelParams;

  readonly #deployment: Readonly<DeploymentSettings>;

  constructor(config: Readonly<EngineConfig>, params: ModelParams) {
    this.#config = config;
    this.#params = params;
    this.#decisionConfig = compileDecisionConfig({
      defaultTimeZone: config.defaultTimeZone,
      explorationShare: config.explorationShare,
      holdoutShare: config.holdoutShare,
      modelVersion: MODEL_VERSION,
      maxPayloadBytes: Math.floor(config.common.maxRecordBytes / 2),
    });
    this.#deployment = deploymentSettings(config, this.#decisionConfig);
  }

  /**
   * The sends a trigger leads to under its campaign's settings (null: the campaign has none):
   * the trigger's own fields over the campaign's over the deployment's, one send per sequence step.
   */
  plan(trigger: ReceivedSendTrigger, campaign: CampaignSettings | null, onUnknown: (field: UnknownTriggerField) => void = () => undefined): { settings: ResolvedSettings; sends: PlannedSend[] } {
    const stated = statedTrigger(trigger, onUnknown);
    const settings = resolveSettings(stated, campaign, this.#deployment);
    return { settings, sends: planSends(stated, settings) };
  }

  /** Why the trigger cannot be decided (for the dead-letter topic), or null. */
  validate(trigger: DecisionTrigger): string | null {
    const invalid = validateTrigger(trigger, this.#decisionConfig);
    return invalid ? `${invalid.code}: ${invalid.message}` : null;
  }

  /** The zone whose cohort prior applies: the trigger's, else the recipient's learned one. */
  cohortZone(trigger: DecisionTrigger): string | null {
    if (!trigger.timeZone) return null;
    const resolved = resolveTimeZone(trigger.timeZone);
    return resolved.ok ? resolved.zone.name : null;
  }

  decide(trigger: DecisionTrigger, evidence: RecipientEvidence): Decision {
    const { cohort, global } = anonymousPriors(evidence, this.#config.priorMinRecipients);
    const scored = scoreSlots({
      profile: evidence.profile,
      cohort,
      global,
      channel: trigger.channel,
      objective: trigger.objective,
      atMs: trigger.occurredAtMs,
      params: this.#params,
    });
    const outcome = decide(
      trigger,
      {
        nowMs: trigger.occurredAtMs,
        slotScores: scored.scores,
        thinHistory: isThinHistory(evidence.profile, this.#config.minHistoryEvents),
        evidence: scored.evidence,
        historyDepth: { events: scored.historyEvents, activeDays: scored.historyActiveDays },
        learnedTimeZone: evidence.profile.timeZone,
      },
      this.#decisionConfig,
    );
    if (!outcome.ok) throw new RangeError(`${outcome.invalid.code}: ${outcome.invalid.message}`);
    return outcome.decision;
  }
}

/** The deployment's value of every campaign setting: the engine's configuration, today's behaviour. */
export function deploymentSettings(config: Readonly<EngineConfig>, decisionConfig: Readonly<DecisionConfig>): Readonly<DeploymentSettings> {
  return Object.freeze({
    windowHours: DEFAULT_WINDOW_HOURS,
    quietHours: null,
    quietHoursPolicy: decisionConfig.defaultQuietHoursPolicy,
    defaultLocalMinute: null,
    objective: 'OPEN',
    holdoutShare: decisionConfig.holdoutShare,
    optimize: true,
    urgentChannels: decisionConfig.urgentBypassChannels,
    transactionalChannels: [],
    quietHoursApply: true,
    expiryGraceMinutes: Math.round(config.expiryGraceMs / 60_000),
    caps: null,
    stopOn: [],
    steps: [],
  });
}

/**
 * The priors a decision may use (k-anonymity): a prior pooling fewer than `minRecipients`
 * distinct recipients is dropped, so the model falls back a level (cohort to population,
 * population to none) and neither the scores nor the evidence weights carry anything of it.
 */
export function anonymousPriors(evidence: RecipientEvidence, minRecipients: number): { cohort: Profile | null; global: Profile | null } {
  const usable = (prior: RecipientEvidence['cohort']) => (prior !== null && prior.recipients >= minRecipients ? prior.profile : null);
  return { cohort: usable(evidence.cohort), global: usable(evidence.global) };
}

/** Zones the warm-up decides in: offsets east and west, with and without daylight saving. */
const WARM_UP_ZONES = ['America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney', 'UTC'];
const WARM_UP_SIGNALS: readonly Signal[] = ['EXPOSURE', 'HUMAN_OPEN', 'CLICK', 'SESSION'];

/**
 * Runs the decision path (decode the recipient's stored record, plan, validate, score, decide)
 * `rounds` times on synthetic recipients and triggers, nothing stored or produced, so V8 has
 * compiled it before the first real trigger: right after start-up the first decisions ran in the
 * interpreter, and at a steady 2,000 triggers/s those seconds were the p99 of trigger to
 * scheduled send (in a profile of the first half second after a restore, decoding the recipients
 * took 218 ms: a restore writes the records without decoding one). Returns the decisions made.
 */
export function warmUpDecisions(
  decider: SendTimeDecider,
  params: ModelParams,
  nowMs: number,
  rounds: number,
  /** Each decision, to warm what follows it (the scheduled send's record and its encoding). */
  onDecision: (trigger: ReceivedSendTrigger, decision: Decision, planned: PlannedSend, settings: ResolvedSettings) => void = () => undefined,
): number {
  // Stored as a trigger finds them: encoded recipient records.
  const records = WARM_UP_ZONES.map((zone, z) => {
    const profile = emptyProfile();
    profile.timeZone = zone;
    for (let day = 40; day > 0; day -= 1 + (day % 3)) {
      const atMs = nowMs - day * DAY_MS + ((z * 5 + day) % 24) * HOUR_MS;
      const { hourOfWeek, localDay } = localSlotOf(atMs, zone);
      applyEngagement(profile, { slot: hourOfWeek, channel: day % 4 === 0 ? 'PUSH' : 'EMAIL', signal: WARM_UP_SIGNALS[day % WARM_UP_SIGNALS.length]!, atMs, localDay }, params);
    }
    return encodeRecipient({ ...newRecipientRecord(), profile });
  });
  const pooled = { profile: decodeRecipient(records[0]!).profile, recipients: Number.MAX_SAFE_INTEGER };
  let decided = 0;
  for (let round = 0; round < rounds; round++) {
    const profile = round % 7 === 6 ? emptyProfile() : decodeRecipient(records[round % records.length]!).profile;
    const trigger: ReceivedSendTrigger = {
      triggerId: `warm-up-${round}`,
      recipientId: `warm-up-${round % records.length}`,
      campaignId: 'warm-up',
      messageId: null,
      channel: round % 4 === 0 ? 'PUSH' : 'EMAIL',
      triggerKind: 'CAMPAIGN',
      urgency: 'NORMAL',
      occurredAt: nowMs + round * 60_000,
      timeZone: round % 3 === 0 ? WARM_UP_ZONES[round % WARM_UP_ZONES.length]! : null,
      windowHours: round % 2 === 0 ? 24 : null,
      sendAt: null,
      quietHours: round % 2 === 0 ? { startMinute: 21 * 60, endMinute: 8 * 60 } : null,
      quietHoursPolicy: null,
      defaultLocalMinute: round % 2 === 0 ? 600 : null,
      objective: round % 5 === 0 ? 'CLICK' : 'OPEN',
      holdoutShare: 0,
      payload: Buffer.alloc(0),
      attributes: {},
    };
    const plan = decider.plan(trigger, null);
    for (const planned of plan.sends) {
      if (decider.validate(planned.trigger) !== null) continue;
      decider.cohortZone(planned.trigger);
      onDecision(trigger, decider.decide(planned.trigger, { profile, cohort: round % 2 === 0 ? pooled : null, global: pooled }), planned, plan.settings);
      decided++;
    }
  }
  return decided;
}
