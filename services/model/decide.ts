import type { BindingConstraint, QuietHours, QuietHoursPolicy, TimeZoneSource } from '../shared/contracts/record-types.ts';
import type {
  Decision,
  DecisionConfig,
  DecisionContext,
  DecisionOutcome,
  DecisionTrigger,
  InvalidTrigger,
  InvalidTriggerCode,
  SlotChoice,
} from './decision-types.ts';
import { scheduleIdOf, stableUnitInterval } from './hash.ts';
import { firstAllowedAtOrAfter, isQuiet, isQuietMinute, quietHoursProblem } from './quiet-hours.ts';
import { forEachTopOfHour, topOfHourSlots } from './time/hour-slots.ts';
import { formatLocalIso } from './time/local-iso.ts';
import { HOUR_MS, HOURS_PER_WEEK, hourOfWeekOfWall, localSlotOf } from './time/local-slot.ts';
import { nextLocalMinuteAtOrAfter } from './time/next-local-time.ts';
import { resolveTimeZone, type ResolvedZone, type ZoneOffsets } from './time/time-zone.ts';

// The decision for one trigger, in the order of DESIGN.md: validate, explicit sendAt, urgent
// bypass, holdout, thin history, exploration, optimized. Pure: time comes in as context.nowMs,
// randomness is a hash of ids, so the same input gives the same decision, byte for byte.

const CHANNELS = ['EMAIL', 'PUSH', 'SMS', 'IN_APP'] as const;
const TRIGGER_KINDS = ['CAMPAIGN', 'JOURNEY', 'CART_RECOVERY', 'TRANSACTIONAL', 'OTHER'] as const;
const URGENCIES = ['NORMAL', 'URGENT'] as const;
const OBJECTIVES = ['OPEN', 'CLICK', 'CONVERSION'] as const;
const QUIET_HOURS_POLICIES = ['BEST_ALLOWED', 'DEFER_TO_END'] as const;
const MAX_WINDOW_HOURS = 168;
/** A sequence step's window may open up to two weeks after the trigger. */
const MAX_WINDOW_START_HOURS = 336;

/** A slot the decision may choose: a top-of-hour instant in the window, or now when mid-hour. */
interface Candidate {
  sendAtMs: number;
  hourOfWeek: number;
  score: number;
  /** Outside quiet hours. */
  allowed: boolean;
  /** The "now" candidate of a trigger that arrived mid-hour. */
  isNow: boolean;
}

interface DecisionWindow {
  startMs: number;
  endMs: number;
  zone: ZoneOffsets;
  quietHours: QuietHours | null;
  /** What binds a send at the window's start: NOW, or WINDOW_START for a window that opens later (a sequence step). */
  startBinding: BindingConstraint;
}

interface Timing {
  sendAtMs: number;
  bindingConstraint: BindingConstraint;
}

type Choice = Timing & Pick<Decision, 'reason' | 'propensity' | 'exploration' | 'arm' | 'urgentBypass'>;

/** Step 1: null when the trigger can be decided, else the reason it goes to the dead-letter topic. */
export function validateTrigger(trigger: DecisionTrigger, config: Readonly<DecisionConfig>): InvalidTrigger | null {
  for (const field of ['triggerId', 'recipientId', 'campaignId'] as const) {
    const value: unknown = trigger[field];
    if (typeof value !== 'string' || value === '') return invalid('MISSING_FIELD', `${field} is missing or empty`);
    if (value.length > config.maxIdLength) return invalid('INVALID_FIELD', `${field} is longer than ${config.maxIdLength} characters`);
  }
  const enumProblem =
    notOneOf('channel', trigger.channel, CHANNELS) ??
    notOneOf('triggerKind', trigger.triggerKind, TRIGGER_KINDS) ??
    notOneOf('urgency', trigger.urgency, URGENCIES) ??
    notOneOf('objective', trigger.objective, OBJECTIVES) ??
    (trigger.quietHoursPolicy == null ? null : notOneOf('quietHoursPolicy', trigger.quietHoursPolicy, QUIET_HOURS_POLICIES));
  if (enumProblem !== null) return invalid('INVALID_FIELD', enumProblem);
  if (!Number.isSafeInteger(trigger.occurredAtMs) || trigger.occurredAtMs < 0) {
    return invalid('INVALID_FIELD', `occurredAt ${trigger.occurredAtMs} is not a non-negative epoch millisecond`);
  }
  if (trigger.timeZone != null) {
    const zone = resolveTimeZone(trigger.timeZone);
    if (!zone.ok) return invalid('UNKNOWN_TIME_ZONE', zone.reason);
  }
  if (!Number.isInteger(trigger.windowHours) || trigger.windowHours < 1 || trigger.windowHours > MAX_WINDOW_HOURS) {
    return invalid('WINDOW_OUT_OF_RANGE', `windowHours ${trigger.windowHours} is not an integer in 1..${MAX_WINDOW_HOURS}`);
  }
  const startHours = trigger.windowStartHours ?? 0;
  if (!Number.isInteger(startHours) || startHours < 0 || startHours > MAX_WINDOW_START_HOURS) {
    return invalid('WINDOW_OUT_OF_RANGE', `windowStartHours ${startHours} is not an integer in 0..${MAX_WINDOW_START_HOURS}`);
  }
  const step = trigger.step ?? 0;
  if (!Number.isSafeInteger(step) || step < 0) return invalid('INVALID_FIELD', `step ${step} is not a non-negative integer`);
  if (trigger.quietHours != null) {
    const problem = typeof trigger.quietHours === 'object' ? quietHoursProblem(trigger.quietHours) : 'quietHours is not a record';
    if (problem !== null) return invalid('QUIET_HOURS_MALFORMED', problem);
  }
  if (trigger.defaultLocalMinute != null && !(Number.isInteger(trigger.defaultLocalMinute) && trigger.defaultLocalMinute >= 0 && trigger.defaultLocalMinute <= 1439)) {
    return invalid('DEFAULT_LOCAL_TIME_MALFORMED', `defaultLocalMinute ${trigger.defaultLocalMinute} is not a minute of day 0..1439`);
  }
  if (trigger.holdoutShare != null && !(Number.isFinite(trigger.holdoutShare) && trigger.holdoutShare >= 0 && trigger.holdoutShare <= 1)) {
    return invalid('HOLDOUT_SHARE_OUT_OF_RANGE', `holdoutShare ${trigger.holdoutShare} is not a share in 0..1`);
  }
  if (trigger.sendAtMs != null) {
    if (!Number.isSafeInteger(trigger.sendAtMs) || trigger.sendAtMs < 0) {
      return invalid('SEND_AT_OUT_OF_RANGE', `sendAt ${trigger.sendAtMs} is not a non-negative epoch millisecond`);
    }
    if (trigger.sendAtMs > trigger.occurredAtMs + config.maxHorizonMs) {
      return invalid('SEND_AT_OUT_OF_RANGE', `sendAt is ${Math.round((trigger.sendAtMs - trigger.occurredAtMs) / HOUR_MS)} h after the trigger, beyond the ${Math.round(config.maxHorizonMs / HOUR_MS)} h horizon`);
    }
  }
  const payloadBytes = trigger.payloadBytes ?? 0;
  if (!Number.isSafeInteger(payloadBytes) || payloadBytes < 0) return invalid('INVALID_FIELD', `payloadBytes ${payloadBytes} is not a size`);
  if (payloadBytes > config.maxPayloadBytes) {
    return invalid('PAYLOAD_TOO_LARGE', `payload of ${payloadBytes} bytes exceeds the ${config.maxPayloadBytes}-byte limit`);
  }
  return null;
}

/**
 * Decides when to send one trigger. An invalid trigger comes back as { ok: false } with the
 * reason; a context that breaks its contract (scores not 168 long, now not finite) throws.
 */
export function decide(trigger: DecisionTrigger, context: DecisionContext, config: Readonly<DecisionConfig>): DecisionOutcome {
  const problem = validateTrigger(trigger, config);
  if (problem !== null) return { ok: false, invalid: problem };
  checkContext(context);
  const { zone, source } = chooseZone(trigger, context, config);
  // A sequence step's window opens windowStartHours after the trigger; a single send's at once.
  const startMs = context.nowMs + (trigger.windowStartHours ?? 0) * HOUR_MS;
  const endMs = startMs + trigger.windowHours * HOUR_MS;
  // The resolved zone answers offsets from its cached timeline (no Intl call per slot).
  const window: DecisionWindow = { startMs, endMs, zone, quietHours: trigger.quietHours ?? null, startBinding: startMs === context.nowMs ? 'NOW' : 'WINDOW_START' };
  const candidates = candidateSlots(window, context.slotScores);
  const choice = chooseSendTime(trigger, context, config, window, candidates);
  const decision: Decision = {
    scheduleId: scheduleIdOf(trigger.triggerId, trigger.recipientId, trigger.step ?? 0),
    sendAtMs: choice.sendAtMs,
    localSendTime: formatLocalIso(choice.sendAtMs, window.zone),
    timeZone: zone.name,
    timeZoneSource: source,
    reason: choice.reason,
    propensity: choice.propensity,
    exploration: choice.exploration,
    arm: choice.arm,
    topSlots: context.slotScores === null ? [] : topAllowedSlots(candidates, config.topSlots),
    evidence: { individual: context.evidence.individual, cohort: context.evidence.cohort, global: context.evidence.global },
    bindingConstraint: choice.bindingConstraint,
    modelVersion: config.modelVersion,
    historyDepth: { events: context.historyDepth.events, activeDays: context.historyDepth.activeDays },
    urgentBypass: choice.urgentBypass,
    windowStartMs: startMs,
    windowEndMs: endMs,
  };
  return { ok: true, decision };
}

function chooseSendTime(trigger: DecisionTrigger, context: DecisionContext, config: Readonly<DecisionConfig>, window: DecisionWindow, candidates: Candidate[]): Choice {
  const treatment = { propensity: 1, exploration: false, arm: 'TREATMENT', urgentBypass: false } as const;
  // 2. An explicit sendAt wins, STO and quiet hours off; never in the past.
  if (trigger.sendAtMs != null) {
    return { ...treatment, reason: 'EXPLICIT_SEND_AT', sendAtMs: Math.max(trigger.sendAtMs, window.startMs), bindingConstraint: 'EXPLICIT' };
  }
  // 3. Urgent (SMS by default) goes now, unless quiet hours hold it to their first allowed minute.
  // The settings may name the bypass (urgency policy, an immediate sequence step) and whether
  // quiet hours still hold it; without them the configured channels decide.
  const bypass = trigger.bypass ?? (trigger.urgency === 'URGENT' && config.urgentBypassChannels.includes(trigger.channel) ? 'RESPECT_QUIET_HOURS' : 'NONE');
  if (bypass !== 'NONE') {
    const timing = bypass === 'IGNORE_QUIET_HOURS' ? { sendAtMs: window.startMs, bindingConstraint: window.startBinding } : respectQuietHours(window, window.startMs, window.startBinding);
    return { ...treatment, urgentBypass: true, reason: 'URGENT_BYPASS', ...timing };
  }
  // 4. Holdout by recipient and campaign, so a recipient stays in one arm for the whole campaign.
  const holdoutShare = trigger.holdoutShare ?? config.holdoutShare;
  if (stableUnitInterval(['holdout', trigger.recipientId, trigger.campaignId]) < holdoutShare) {
    return { ...treatment, arm: 'CONTROL', reason: 'CONTROL', ...defaultTimeInWindow(trigger, window) };
  }
  // STO off (a campaign setting): every recipient gets the default local time in their zone, as
  // the holdout does; a campaign without optimized sends has no treatment arm to compare.
  if (trigger.optimize === false) {
    return { ...treatment, arm: 'CONTROL', reason: 'CONTROL', ...defaultTimeInWindow(trigger, window) };
  }
  // 5. Without a usable model the campaign's default time (or the window start) is the answer.
  if (context.thinHistory || context.slotScores === null) {
    return { ...treatment, reason: 'FALLBACK_THIN_HISTORY', ...defaultTimeInWindow(trigger, window) };
  }
  const policy: QuietHoursPolicy = trigger.quietHoursPolicy ?? config.defaultQuietHoursPolicy;
  const allowed = candidates.filter((candidate) => candidate.allowed);
  const greedy = policy === 'DEFER_TO_END' ? bestOf(candidates) : bestAllowed(candidates, allowed, context.slotScores, config.inboxHalfLifeHours);
  const share = allowed.length > 0 ? config.explorationShare : 0;
  const greedyIsAllowed = greedy !== null && greedy.allowed;
  // 6. Exploration: a uniformly random allowed slot; the propensity is that slot's probability
  // under the mixed policy (explore share spread evenly, the rest on the greedy slot).
  // The steps of a sequence draw apart (a single send keeps the draw it always had).
  const drawId = trigger.step ? [trigger.triggerId, String(trigger.step)] : [trigger.triggerId];
  if (share > 0 && stableUnitInterval(['explore', ...drawId]) < share) {
    const index = Math.min(allowed.length - 1, Math.floor(stableUnitInterval(['explore-slot', ...drawId]) * allowed.length));
    const slot = allowed[index]!;
    const propensity = share / allowed.length + (1 - share) * (slot === greedy ? 1 : 0);
    return { ...treatment, propensity, exploration: true, reason: 'EXPLORATION', sendAtMs: slot.sendAtMs, bindingConstraint: slot.isNow ? window.startBinding : 'NONE' };
  }
  // 7. Optimized.
  const propensity = 1 - share + (greedyIsAllowed ? share / allowed.length : 0);
  return { ...treatment, propensity, reason: 'OPTIMIZED', ...optimizedTiming(policy, window, candidates, allowed, context.slotScores, greedy) };
}

/**
 * BEST_ALLOWED's slot: the best allowed one; but when the window's best slot is quiet (the
 * habit falls inside quiet hours), every allowed slot's own score is small and ranking by it
 * is ranking noise. Then the message is valued as what it is, a message that waits in the inbox
 * for the recipient's next visit: the slot's score plus the scores of the following hours, each
 * discounted by the wait (halving every inboxHalfLifeHours). The last allowed slot before the
 * habit wins, for every trigger alike. Unconstrained decisions do not change.
 */
function bestAllowed(candidates: readonly Candidate[], allowed: readonly Candidate[], scores: Float64Array, inboxHalfLifeHours: number): Candidate | null {
  const best = bestOf(allowed);
  const overall = bestOf(candidates);
  if (best === null || overall === null || overall.allowed || !(inboxHalfLifeHours > 0)) return best;
  const factor = 2 ** (-1 / inboxHalfLifeHours);
  // The weights and the scores of the week (wrapped past its end) are the same for every
  // candidate: computed once, then each value is the same sum in the same order.
  const weights = INBOX_WEIGHTS;
  for (let hours = 0, weight = 1; hours < INBOX_HORIZON_HOURS; hours++, weight *= factor) weights[hours] = weight;
  const wrapped = INBOX_SCORES;
  for (let slot = 0; slot < wrapped.length; slot++) wrapped[slot] = scoreAt(scores, slot % HOURS_PER_WEEK);
  let chosen = best;
  let chosenValue = -1;
  for (const candidate of allowed) {
    let value = 0;
    for (let hours = 0, slot = candidate.hourOfWeek; hours < INBOX_HORIZON_HOURS; hours++, slot++) value += weights[hours]! * wrapped[slot]!;
    if (value > chosenValue) [chosen, chosenValue] = [candidate, value];
  }
  return chosen;
}

/** How far ahead the inbox value looks: two days (at a 2 h half-life the rest weighs 2^-24). */
const INBOX_HORIZON_HOURS = 48;
const INBOX_WEIGHTS = new Float64Array(INBOX_HORIZON_HOURS);
const INBOX_SCORES = new Float64Array(HOURS_PER_WEEK + INBOX_HORIZON_HOURS);

function optimizedTiming(policy: QuietHoursPolicy, window: DecisionWindow, candidates: Candidate[], allowed: Candidate[], scores: Float64Array, greedy: Candidate | null): Timing {
  if (policy === 'DEFER_TO_END') {
    // Iterable-style: the best slot ignoring quiet hours, deferred to their end when quiet.
    const best = bestOf(candidates)!;
    if (!best.allowed) return deferred(window, firstAllowedAtOrAfter(best.sendAtMs, window.zone, window.quietHours));
    return finishAllowedBest(best, window, candidates, allowed, scores);
  }
  const best = greedy;
  // Every slot of the window is quiet: the first allowed minute, flagged FORCED when past the window.
  if (best === null) return deferred(window, firstAllowedAtOrAfter(window.startMs, window.zone, window.quietHours));
  return finishAllowedBest(best, window, candidates, allowed, scores);
}

function finishAllowedBest(best: Candidate, window: DecisionWindow, candidates: Candidate[], allowed: Candidate[], scores: Float64Array): Timing {
  // The curve still rises at the window end: the latest allowed instant of the window wins.
  if (best === allowed[allowed.length - 1]) {
    const next = topOfHourSlots(window.endMs + 1, window.endMs + 2 * HOUR_MS, window.zone)[0];
    if (next !== undefined && !isQuietMinute(next.minuteOfDay, window.quietHours) && scoreAt(scores, next.hourOfWeek) > best.score) {
      const endAllowed = !isQuiet(window.endMs, window.zone, window.quietHours);
      return { sendAtMs: endAllowed ? window.endMs : best.sendAtMs, bindingConstraint: 'WINDOW_END' };
    }
  }
  const unconstrained = bestOf(candidates)!;
  if (unconstrained.score > best.score) return { sendAtMs: best.sendAtMs, bindingConstraint: 'QUIET_HOURS' };
  return { sendAtMs: best.sendAtMs, bindingConstraint: best.isNow ? window.startBinding : 'NONE' };
}

/** The campaign's default local time at its next occurrence inside the window, else the window start. */
function defaultTimeInWindow(trigger: DecisionTrigger, window: DecisionWindow): Timing {
  if (trigger.defaultLocalMinute != null) {
    const occurrenceMs = nextLocalMinuteAtOrAfter(window.startMs, trigger.defaultLocalMinute, window.zone);
    if (occurrenceMs <= window.endMs) return respectQuietHours(window, occurrenceMs, 'DEFAULT_TIME');
  }
  return respectQuietHours(window, window.startMs, 'WINDOW_START');
}

function respectQuietHours(window: DecisionWindow, atMs: number, bindingIfAllowed: BindingConstraint): Timing {
  if (!isQuiet(atMs, window.zone, window.quietHours)) return { sendAtMs: atMs, bindingConstraint: bindingIfAllowed };
  return deferred(window, firstAllowedAtOrAfter(atMs, window.zone, window.quietHours));
}

function deferred(window: DecisionWindow, sendAtMs: number): Timing {
  return { sendAtMs, bindingConstraint: sendAtMs <= window.endMs ? 'QUIET_HOURS' : 'QUIET_HOURS_FORCED' };
}

function candidateSlots(window: DecisionWindow, scores: Float64Array | null): Candidate[] {
  const candidates: Candidate[] = [];
  // A trigger that arrives mid-hour may also go now, before the first top of the hour.
  let first = true;
  const addNow = (firstSlotMs: number | null) => {
    first = false;
    if (firstSlotMs === window.startMs) return;
    const now = localSlotOf(window.startMs, window.zone);
    candidates.push({
      sendAtMs: window.startMs,
      hourOfWeek: now.hourOfWeek,
      score: scoreAt(scores, now.hourOfWeek),
      allowed: !isQuietMinute(now.minuteOfDay, window.quietHours),
      isNow: true,
    });
  };
  forEachTopOfHour(window.startMs, window.endMs, window.zone, (epochMs, wallMs) => {
    if (first) addNow(epochMs);
    const hourOfWeek = hourOfWeekOfWall(wallMs);
    candidates.push({
      sendAtMs: epochMs,
      hourOfWeek,
      score: scoreAt(scores, hourOfWeek),
      // A top of the hour: the local minute of day is the hour's.
      allowed: !isQuietMinute((hourOfWeek % 24) * 60, window.quietHours),
      isNow: false,
    });
  });
  if (first) addNow(null);
  return candidates;
}

/** Highest score; among equals the earliest (candidates are in time order). */
function bestOf(candidates: readonly Candidate[]): Candidate | null {
  let best: Candidate | null = null;
  for (const candidate of candidates) {
    if (best === null || candidate.score > best.score) best = candidate;
  }
  return best;
}

/** The `count` best allowed candidates, best first (among equal scores the earlier), without sorting them all. */
function topAllowedSlots(candidates: readonly Candidate[], count: number): SlotChoice[] {
  const top: Candidate[] = [];
  if (count <= 0) return [];
  for (const candidate of candidates) {
    if (!candidate.allowed) continue;
    if (top.length === count && !ranksBefore(candidate, top[count - 1]!)) continue;
    let index = top.length === count ? count - 1 : top.length;
    while (index > 0 && ranksBefore(candidate, top[index - 1]!)) {
      top[index] = top[index - 1]!;
      index -= 1;
    }
    top[index] = candidate;
  }
  return top.map((candidate) => ({ sendAtMs: candidate.sendAtMs, hourOfWeek: candidate.hourOfWeek, score: candidate.score }));
}

function ranksBefore(a: Candidate, b: Candidate): boolean {
  return a.score > b.score || (a.score === b.score && a.sendAtMs < b.sendAtMs);
}

/** A non-finite score (a model bug) ranks as 0 rather than poisoning the comparison. */
function scoreAt(scores: Float64Array | null, hourOfWeek: number): number {
  const score = scores?.[hourOfWeek] ?? 0;
  return Number.isFinite(score) ? score : 0;
}

function chooseZone(trigger: DecisionTrigger, context: DecisionContext, config: Readonly<DecisionConfig>): { zone: ResolvedZone; source: TimeZoneSource } {
  if (trigger.timeZone != null) {
    const resolution = resolveTimeZone(trigger.timeZone);
    if (resolution.ok) return { zone: resolution.zone, source: 'TRIGGER' };
  }
  if (context.learnedTimeZone != null) {
    const resolution = resolveTimeZone(context.learnedTimeZone);
    if (resolution.ok) return { zone: resolution.zone, source: 'LEARNED' };
  }
  const resolution = resolveTimeZone(config.defaultTimeZone);
  if (!resolution.ok) throw new RangeError(`defaultTimeZone: ${resolution.reason}`);
  return { zone: resolution.zone, source: 'DEFAULT' };
}

function checkContext(context: DecisionContext): void {
  if (!Number.isSafeInteger(context.nowMs)) throw new RangeError(`context.nowMs ${context.nowMs} is not an epoch millisecond`);
  if (context.slotScores !== null && context.slotScores.length !== HOURS_PER_WEEK) {
    throw new RangeError(`context.slotScores has ${context.slotScores.length} entries, expected ${HOURS_PER_WEEK}`);
  }
}

function notOneOf(field: string, value: unknown, allowed: readonly string[]): string | null {
  return typeof value === 'string' && allowed.includes(value) ? null : `${field} ${String(value)} is not one of ${allowed.join('|')}`;
}

function invalid(code: InvalidTriggerCode, message: string): InvalidTrigger {
  return { code, message };
}
