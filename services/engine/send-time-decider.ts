import type { SendTrigger } from '../shared/contracts/record-types.ts';
import { decide, validateTrigger } from '../model/decide.ts';
import { compileDecisionConfig, type Decision, type DecisionConfig, type DecisionTrigger } from '../model/decision-types.ts';
import { isThinHistory, MODEL_VERSION, scoreSlots, type ModelParams } from '../model/score.ts';
import { resolveTimeZone } from '../model/time/time-zone.ts';
import type { EngineConfig } from './config.ts';
import type { RecipientEvidence } from './recipient-state.ts';

export function toDecisionTrigger(trigger: SendTrigger): DecisionTrigger {
  return {
    triggerId: trigger.triggerId,
    recipientId: trigger.recipientId,
    campaignId: trigger.campaignId,
    channel: trigger.channel,
    triggerKind: trigger.triggerKind,
    urgency: trigger.urgency,
    occurredAtMs: trigger.occurredAt,
    timeZone: trigger.timeZone,
    windowHours: trigger.windowHours,
    sendAtMs: trigger.sendAt,
    quietHours: trigger.quietHours,
    quietHoursPolicy: trigger.quietHoursPolicy,
    defaultLocalMinute: trigger.defaultLocalMinute,
    objective: trigger.objective,
    holdoutShare: trigger.holdoutShare,
    payloadBytes: trigger.payload.length,
  };
}

/** Scores a recipient's evidence with the model and runs the decision flow. Pure. */
export class SendTimeDecider {
  readonly #config: Readonly<EngineConfig>;
  readonly #decisionConfig: Readonly<DecisionConfig>;
  readonly #params: ModelParams;

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
    const scored = scoreSlots({
      profile: evidence.profile,
      cohort: evidence.cohort,
      global: evidence.global,
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
