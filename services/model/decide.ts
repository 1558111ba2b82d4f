import type { Arm, BindingConstraint, Channel, DecisionReason, Objective, QuietHoursPolicy, TimeZoneSource, TriggerKind, Urgency } from '../shared/contracts/record-types.ts';
import { stableId, stableUnit } from './hash.ts';
import { firstAllowedAtOrAfter, isQuiet, type QuietHoursWindow } from './quiet-hours.ts';
import { candidateSlots, HOUR_MS, instantOfLocal, localIso, localPartsOf, localSlotOf, resolveZone, type CandidateSlot } from './time/zones.ts';

export interface DecisionTrigger {
  triggerId: string;
  recipientId: string;
  campaignId: string;
  channel: Channel;
  triggerKind: TriggerKind;
  urgency: Urgency;
  occurredAtMs: number;
  timeZone: string | null;
  windowHours: number;
  sendAtMs: number | null;
  quietHours: QuietHoursWindow | null;
  quietHoursPolicy: QuietHoursPolicy | null;
  defaultLocalMinute: number | null;
  objective: Objective;
  holdoutShare: number | null;
  payloadBytes: number;
}

export interface DecisionContext {
  /** The decision's now: the trigger's time, so a replay decides identically. */
  nowMs: number;
  /** Scores by local hour of week, or null when there is no model output. */
  slotScores: Float64Array | null;
  thinHistory: boolean;
  evidence: { individual: number; cohort: number; global: number };
  historyEvents: number;
  historyActiveDays: number;
  learnedTimeZone: string | null;
}

export interface DecisionConfig {
  defaultTimeZone: string;
  explorationShare: number;
  holdoutShare: number;
  topSlots: number;
  modelVersion: string;
  maxHorizonMs: number;
  maxPayloadBytes: number;
  quietHoursPolicy: QuietHoursPolicy;
}

export interface Decision {
  scheduleId: string;
  sendAtMs: number;
  localSendTime: string;
  timeZone: string;
  timeZoneSource: TimeZoneSource;
  reason: DecisionReason;
  propensity: number;
  exploration: boolean;
  arm: Arm;
  topSlots: { sendAt: number; hourOfWeek: number; score: number }[];
  evidence: { individual: number; cohort: number; global: number };
  bindingConstraint: BindingConstraint;
  modelVersion: string;
  historyEvents: number;
  historyActiveDays: number;
  urgentBypass: boolean;
}

/** Why a trigger cannot be decided, or null. Invalid triggers go to the dead-letter topic. */
export function validateTrigger(trigger: DecisionTrigger, config: DecisionConfig): string | null {
  if (!trigger.triggerId) return 'triggerId is empty';
  if (!trigger.recipientId || trigger.recipientId.length > 256) return 'recipientId must be 1..256 characters';
  if (!trigger.campaignId) return 'campaignId is empty';
  if (!Number.isFinite(trigger.occurredAtMs) || trigger.occurredAtMs <= 0) return 'occurredAt is not a valid instant';
  if (trigger.timeZone !== null) {
    const zone = resolveZone(trigger.timeZone);
    if (!zone.ok) return zone.reason;
  }
  if (!Number.isInteger(trigger.windowHours) || trigger.windowHours < 1 || trigger.windowHours > 168) return `windowHours ${trigger.windowHours} is outside 1..168`;
  const minuteOk = (minute: number) => Number.isInteger(minute) && minute >= 0 && minute < 1440;
  if (trigger.quietHours) {
    const { startMinute, endMinute } = trigger.quietHours;
    if (!minuteOk(startMinute) || !minuteOk(endMinute)) return 'quiet hours minutes must be in 0..1439';
    if (startMinute === endMinute) return 'quiet hours start and end are equal';
  }
  if (trigger.defaultLocalMinute !== null && !minuteOk(trigger.defaultLocalMinute)) return 'defaultLocalMinute must be in 0..1439';
  if (trigger.holdoutShare !== null && !(trigger.holdoutShare >= 0 && trigger.holdoutShare <= 1)) return 'holdoutShare must be in [0, 1]';
  if (trigger.sendAtMs !== null && (!Number.isFinite(trigger.sendAtMs) || trigger.sendAtMs - trigger.occurredAtMs > config.maxHorizonMs)) {
    return `sendAt is more than ${Math.round(config.maxHorizonMs / 86_400_000)} days after the trigger`;
  }
  if (trigger.payloadBytes > config.maxPayloadBytes) return `payload of ${trigger.payloadBytes} bytes exceeds ${config.maxPayloadBytes}`;
  return null;
}

function chooseZone(trigger: DecisionTrigger, context: DecisionContext, config: DecisionConfig): { zone: string; source: TimeZoneSource } {
  const fromTrigger = trigger.timeZone ? resolveZone(trigger.timeZone) : null;
  if (fromTrigger?.ok) return { zone: fromTrigger.zone, source: 'TRIGGER' };
  const learned = context.learnedTimeZone ? resolveZone(context.learnedTimeZone) : null;
  if (learned?.ok) return { zone: learned.zone, source: 'LEARNED' };
  const fallback = resolveZone(config.defaultTimeZone);
  return { zone: fallback.ok ? fallback.zone : 'UTC', source: 'DEFAULT' };
}

/** The next occurrence of a local minute of day at or after `fromMs` (DST-aware). */
function nextLocalMinute(fromMs: number, minuteOfDay: number, zone: string): number {
  const parts = localPartsOf(fromMs, zone);
  for (let dayOffset = 0; dayOffset < 3; dayOffset++) {
    const date = new Date(Date.UTC(parts.year, parts.month - 1, parts.day + dayOffset));
    const instant = instantOfLocal(
      { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: Math.floor(minuteOfDay / 60), minute: minuteOfDay % 60 },
      zone,
    );
    if (instant >= fromMs) return instant;
  }
  return fromMs;
}

/**
 * The decision flow of DESIGN.md, in its order: explicit sendAt, urgent SMS bypass, holdout,
 * thin history, exploration, optimized. Pure and deterministic: the same trigger and context
 * always give the same decision and the same schedule id.
 */
export function decide(trigger: DecisionTrigger, context: DecisionContext, config: DecisionConfig): Decision {
  const now = context.nowMs;
  const { zone, source } = chooseZone(trigger, context, config);
  const windowEnd = now + trigger.windowHours * HOUR_MS;
  const quiet = trigger.quietHours;
  const base = {
    scheduleId: stableId(`schedule:${trigger.triggerId}`),
    timeZone: zone,
    timeZoneSource: source,
    evidence: context.evidence,
    modelVersion: config.modelVersion,
    historyEvents: context.historyEvents,
    historyActiveDays: context.historyActiveDays,
  };
  const finish = (fields: {
    sendAtMs: number;
    reason: DecisionReason;
    propensity: number;
    exploration?: boolean;
    arm?: Arm;
    topSlots?: Decision['topSlots'];
    bindingConstraint: BindingConstraint;
    urgentBypass?: boolean;
  }): Decision => {
    const sendAtMs = Math.max(now, fields.sendAtMs);
    return {
      ...base,
      sendAtMs,
      localSendTime: localIso(sendAtMs, zone),
      reason: fields.reason,
      propensity: fields.propensity,
      exploration: fields.exploration ?? false,
      arm: fields.arm ?? 'TREATMENT',
      topSlots: fields.topSlots ?? [],
      bindingConstraint: fields.bindingConstraint,
      urgentBypass: fields.urgentBypass ?? false,
    };
  };

  // 2. An explicit send time wins: no optimization for this send.
  if (trigger.sendAtMs !== null) {
    return finish({ sendAtMs: trigger.sendAtMs, reason: 'EXPLICIT_SEND_AT', propensity: 1, bindingConstraint: 'EXPLICIT' });
  }

  // 3. Urgent SMS goes now; quiet hours (compliance) still hold.
  if (trigger.urgency === 'URGENT' && trigger.channel === 'SMS') {
    const allowed = firstAllowedAtOrAfter(now, zone, quiet);
    return finish({ sendAtMs: allowed, reason: 'URGENT_BYPASS', propensity: 1, bindingConstraint: allowed > now ? 'QUIET_HOURS' : 'NOW', urgentBypass: true });
  }

  // The default local time inside the window, else the window start; quiet hours respected.
  const defaultTime = (): { sendAtMs: number; bindingConstraint: BindingConstraint } => {
    let at = now;
    let binding: BindingConstraint = 'WINDOW_START';
    if (trigger.defaultLocalMinute !== null) {
      const next = nextLocalMinute(now, trigger.defaultLocalMinute, zone);
      if (next <= windowEnd) {
        at = next;
        binding = 'DEFAULT_TIME';
      }
    }
    const allowed = firstAllowedAtOrAfter(at, zone, quiet);
    return allowed > at ? { sendAtMs: allowed, bindingConstraint: allowed > windowEnd ? 'QUIET_HOURS_FORCED' : 'QUIET_HOURS' } : { sendAtMs: at, bindingConstraint: binding };
  };

  // 4. Holdout: a deterministic share of recipients per campaign keeps the default time.
  const holdoutShare = trigger.holdoutShare ?? config.holdoutShare;
  if (holdoutShare > 0 && stableUnit(`holdout:${trigger.recipientId}:${trigger.campaignId}`) < holdoutShare) {
    return finish({ ...defaultTime(), reason: 'CONTROL', propensity: 1, arm: 'CONTROL' });
  }

  // 5. Thin history: the model has too little to say about this recipient.
  if (context.thinHistory || !context.slotScores) {
    return finish({ ...defaultTime(), reason: 'FALLBACK_THIN_HISTORY', propensity: 1 });
  }

  const scores = context.slotScores;
  // The current hour counts as a slot "now": a trigger at 10:40 may go at once for a 10:00 slot.
  const currentHour = localSlotOf(now, zone);
  const candidates: CandidateSlot[] = [];
  if (currentHour.minute !== 0 || now % 60_000 !== 0) candidates.push({ sendAt: now, hourOfWeek: currentHour.hourOfWeek });
  candidates.push(...candidateSlots(now, windowEnd, zone));
  const policy = trigger.quietHoursPolicy ?? config.quietHoursPolicy;
  const allowed = policy === 'DEFER_TO_END' ? candidates : candidates.filter((slot) => !isQuiet(slot.sendAt, zone, quiet));
  const ranked = [...allowed].sort((a, b) => scores[b.hourOfWeek]! - scores[a.hourOfWeek]! || a.sendAt - b.sendAt);
  const topSlots = ranked.slice(0, config.topSlots).map((slot) => ({ sendAt: slot.sendAt, hourOfWeek: slot.hourOfWeek, score: scores[slot.hourOfWeek]! }));

  if (allowed.length === 0) {
    // Every slot of the window is quiet: the first allowed minute, even past the window end.
    return finish({ sendAtMs: firstAllowedAtOrAfter(now, zone, quiet), reason: 'OPTIMIZED', propensity: 1, topSlots, bindingConstraint: 'QUIET_HOURS_FORCED' });
  }
  const greedy = ranked[0]!;
  const share = config.explorationShare;

  // 6. Exploration: a deterministic share of triggers gets a uniformly chosen allowed slot.
  if (share > 0 && stableUnit(`explore:${trigger.triggerId}`) < share) {
    const pick = allowed[Math.floor(stableUnit(`explore-slot:${trigger.triggerId}`) * allowed.length)]!;
    const propensity = share / allowed.length + (pick.sendAt === greedy.sendAt ? 1 - share : 0);
    const deferred = policy === 'DEFER_TO_END' ? firstAllowedAtOrAfter(pick.sendAt, zone, quiet) : pick.sendAt;
    return finish({ sendAtMs: deferred, reason: 'EXPLORATION', propensity, exploration: true, topSlots, bindingConstraint: deferred > pick.sendAt ? 'QUIET_HOURS' : 'NONE' });
  }

  // 7. Optimized: the best allowed slot of the window.
  const propensity = 1 - share + share / allowed.length;
  let binding: BindingConstraint = greedy.sendAt === now && candidates[0]?.sendAt === now ? 'NOW' : 'NONE';
  const last = allowed.at(-1)!;
  if (greedy.sendAt === last.sendAt && allowed.length > 1) {
    const beyond = localSlotOf(last.sendAt + HOUR_MS, zone).hourOfWeek;
    if (scores[beyond]! > scores[last.hourOfWeek]!) binding = 'WINDOW_END';
  }
  // A curve still rising at the window end: the end of the window itself is the best instant.
  let sendAtMs = binding === 'WINDOW_END' && !isQuiet(windowEnd, zone, quiet) ? windowEnd : greedy.sendAt;
  if (policy === 'DEFER_TO_END') {
    const deferred = firstAllowedAtOrAfter(greedy.sendAt, zone, quiet);
    if (deferred > greedy.sendAt) {
      sendAtMs = deferred;
      binding = 'QUIET_HOURS';
    }
  }
  return finish({ sendAtMs, reason: 'OPTIMIZED', propensity, topSlots, bindingConstraint: binding });
}
