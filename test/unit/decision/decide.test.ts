import { describe, expect, it } from 'vitest';
import { decide, validateTrigger } from '../../../services/model/decide.ts';
import { compileDecisionConfig, DEFAULT_DECISION_CONFIG, type DecisionContext, type DecisionTrigger } from '../../../services/model/decision-types.ts';
import { scheduleIdOf } from '../../../services/model/hash.ts';
import { formatLocalIso } from '../../../services/model/time/local-iso.ts';
import { ConfigError } from '../../../services/shared/errors.ts';
import { baseContext, baseTrigger, HOUR, hourOfWeek, local, peakScores } from './fixtures.ts';

// No holdout, no exploration unless a test asks for it.
const config = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0 });
const night = { startMinute: 22 * 60, endMinute: 8 * 60 };

function decided(trigger: DecisionTrigger, context: DecisionContext = baseContext(trigger), withConfig = config) {
  const outcome = decide(trigger, context, withConfig);
  if (!outcome.ok) throw new Error(`unexpected invalid trigger: ${outcome.invalid.code} ${outcome.invalid.message}`);
  return outcome.decision;
}

describe('validateTrigger', () => {
  const cases: Array<[string, Partial<DecisionTrigger>, string]> = [
    ['missing trigger id', { triggerId: '' }, 'MISSING_FIELD'],
    ['missing recipient id', { recipientId: undefined as unknown as string }, 'MISSING_FIELD'],
    ['missing campaign id', { campaignId: '' }, 'MISSING_FIELD'],
    ['over-long recipient id', { recipientId: 'r'.repeat(300) }, 'INVALID_FIELD'],
    ['unknown channel', { channel: 'FAX' as never }, 'INVALID_FIELD'],
    ['unknown urgency', { urgency: 'NOW' as never }, 'INVALID_FIELD'],
    ['unknown quiet-hours policy', { quietHoursPolicy: 'LATER' as never }, 'INVALID_FIELD'],
    ['occurredAt not a number', { occurredAtMs: Number.NaN }, 'INVALID_FIELD'],
    ['unknown zone', { timeZone: 'Mars/Olympus_Mons' }, 'UNKNOWN_TIME_ZONE'],
    ['window 0 h', { windowHours: 0 }, 'WINDOW_OUT_OF_RANGE'],
    ['window 169 h', { windowHours: 169 }, 'WINDOW_OUT_OF_RANGE'],
    ['window 1.5 h', { windowHours: 1.5 }, 'WINDOW_OUT_OF_RANGE'],
    ['quiet hours empty', { quietHours: { startMinute: 60, endMinute: 60 } }, 'QUIET_HOURS_MALFORMED'],
    ['quiet hours out of range', { quietHours: { startMinute: 60, endMinute: 1440 } }, 'QUIET_HOURS_MALFORMED'],
    ['default time out of range', { defaultLocalMinute: 1440 }, 'DEFAULT_LOCAL_TIME_MALFORMED'],
    ['default time fractional', { defaultLocalMinute: 12.5 }, 'DEFAULT_LOCAL_TIME_MALFORMED'],
    ['holdout share above 1', { holdoutShare: 1.2 }, 'HOLDOUT_SHARE_OUT_OF_RANGE'],
    ['holdout share negative', { holdoutShare: -0.1 }, 'HOLDOUT_SHARE_OUT_OF_RANGE'],
    ['sendAt beyond the horizon', { sendAtMs: Date.UTC(2025, 5, 2, 12) + 91 * 24 * HOUR }, 'SEND_AT_OUT_OF_RANGE'],
    ['sendAt negative', { sendAtMs: -5 }, 'SEND_AT_OUT_OF_RANGE'],
    ['payload too large', { payloadBytes: 256 * 1024 + 1 }, 'PAYLOAD_TOO_LARGE'],
  ];
  for (const [name, overrides, code] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      const trigger = baseTrigger(overrides);
      const problem = validateTrigger(trigger, config);
      expect(problem?.code).toBe(code);
      expect(problem?.message.length).toBeGreaterThan(5);
      const outcome = decide(trigger, baseContext(trigger), config);
      expect(outcome).toEqual({ ok: false, invalid: problem });
    });
  }

  it('accepts a well-formed trigger, fixed offsets, nulls and limits', () => {
    expect(validateTrigger(baseTrigger(), config)).toBeNull();
    expect(validateTrigger(baseTrigger({ timeZone: '+05:45', windowHours: 168, quietHours: night, defaultLocalMinute: 0, holdoutShare: 1, payloadBytes: 256 * 1024 }), config)).toBeNull();
    expect(validateTrigger(baseTrigger({ timeZone: null, sendAtMs: Date.UTC(2025, 5, 2, 12) + 90 * 24 * HOUR }), config)).toBeNull();
    expect(validateTrigger(baseTrigger({ sendAtMs: Date.UTC(2020, 0, 1) }), config)).toBeNull();
  });
});

describe('decision config', () => {
  it('fills defaults, normalizes the default zone and freezes', () => {
    const compiled = compileDecisionConfig({ defaultTimeZone: '+05:45' });
    expect(compiled.defaultTimeZone).toBe('UTC+05:45');
    expect(compiled.explorationShare).toBe(0.05);
    expect(compiled.topSlots).toBe(3);
    expect(Object.isFrozen(compiled)).toBe(true);
    expect(DEFAULT_DECISION_CONFIG.urgentBypassChannels).toEqual(['SMS']);
  });

  it('names the bad field', () => {
    expect(() => compileDecisionConfig({ defaultTimeZone: 'Nowhere/Land' })).toThrow(ConfigError);
    expect(() => compileDecisionConfig({ explorationShare: 1.5 })).toThrow(/explorationShare/);
    expect(() => compileDecisionConfig({ holdoutShare: Number.NaN })).toThrow(/holdoutShare/);
    expect(() => compileDecisionConfig({ topSlots: -1 })).toThrow(/topSlots/);
    expect(() => compileDecisionConfig({ maxHorizonMs: 0 })).toThrow(/maxHorizonMs/);
    expect(() => compileDecisionConfig({ urgentBypassChannels: ['FAX' as never] })).toThrow(/urgentBypassChannels/);
  });
});

describe('decision flow', () => {
  it('EXPLICIT_SEND_AT: the explicit instant wins, quiet hours and scores notwithstanding', () => {
    const trigger = baseTrigger({ sendAtMs: Date.UTC(2025, 5, 2, 23, 0), quietHours: night });
    const decision = decided(trigger);
    expect(decision).toMatchObject({ reason: 'EXPLICIT_SEND_AT', sendAtMs: Date.UTC(2025, 5, 2, 23, 0), bindingConstraint: 'EXPLICIT', propensity: 1, arm: 'TREATMENT', exploration: false });
  });

  it('EXPLICIT_SEND_AT in the past goes now, never in the past', () => {
    const trigger = baseTrigger({ sendAtMs: Date.UTC(2025, 5, 1) });
    expect(decided(trigger)).toMatchObject({ reason: 'EXPLICIT_SEND_AT', sendAtMs: trigger.occurredAtMs, bindingConstraint: 'EXPLICIT' });
  });

  it('URGENT_BYPASS: an urgent SMS goes now', () => {
    const trigger = baseTrigger({ channel: 'SMS', urgency: 'URGENT', triggerKind: 'CART_RECOVERY', occurredAtMs: Date.UTC(2025, 5, 2, 12, 17, 3, 5), quietHours: night });
    expect(decided(trigger)).toMatchObject({ reason: 'URGENT_BYPASS', urgentBypass: true, sendAtMs: trigger.occurredAtMs, bindingConstraint: 'NOW', propensity: 1 });
  });

  it('URGENT_BYPASS in quiet hours waits for the first allowed minute', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ channel: 'SMS', urgency: 'URGENT', triggerKind: 'CART_RECOVERY', timeZone: zone, occurredAtMs: local('2025-06-02T06:40', zone), windowHours: 4, quietHours: night });
    expect(decided(trigger)).toMatchObject({ reason: 'URGENT_BYPASS', urgentBypass: true, sendAtMs: local('2025-06-02T08:00', zone), bindingConstraint: 'QUIET_HOURS', localSendTime: '2025-06-02T08:00:00.000+02:00' });
    const late = baseTrigger({ ...trigger, occurredAtMs: local('2025-06-02T23:10', zone), windowHours: 1 });
    expect(decided(late)).toMatchObject({ reason: 'URGENT_BYPASS', sendAtMs: local('2025-06-03T08:00', zone), bindingConstraint: 'QUIET_HOURS_FORCED' });
  });

  it('urgency on another channel does not bypass (SMS only by default)', () => {
    const trigger = baseTrigger({ channel: 'EMAIL', urgency: 'URGENT' });
    expect(decided(trigger).reason).toBe('OPTIMIZED');
    const pushConfig = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0, urgentBypassChannels: ['SMS', 'PUSH'] });
    expect(decided(baseTrigger({ channel: 'PUSH', urgency: 'URGENT' }), undefined, pushConfig).reason).toBe('URGENT_BYPASS');
  });

  it('CONTROL: a held-out recipient gets the default local time in the window, arm CONTROL', () => {
    const zone = 'America/New_York';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T11:20', zone), holdoutShare: 1, defaultLocalMinute: 10 * 60 });
    const decision = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(1, 19)) }));
    expect(decision).toMatchObject({ reason: 'CONTROL', arm: 'CONTROL', exploration: false, propensity: 1, bindingConstraint: 'DEFAULT_TIME', localSendTime: '2025-06-03T10:00:00.000-04:00' });
    expect(decision.topSlots[0]).toMatchObject({ hourOfWeek: hourOfWeek(1, 19), score: 1 });
  });

  it('CONTROL: a default time outside the window falls back to the window start; quiet hours still hold', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T11:20', zone), windowHours: 3, holdoutShare: 1, defaultLocalMinute: 9 * 60 });
    expect(decided(trigger)).toMatchObject({ reason: 'CONTROL', sendAtMs: trigger.occurredAtMs, bindingConstraint: 'WINDOW_START' });
    const quiet = baseTrigger({ ...trigger, occurredAtMs: local('2025-06-02T23:20', zone), windowHours: 24, defaultLocalMinute: 23 * 60 + 30, quietHours: night });
    expect(decided(quiet)).toMatchObject({ reason: 'CONTROL', sendAtMs: local('2025-06-03T08:00', zone), bindingConstraint: 'QUIET_HOURS' });
  });

  it('holdout is by recipient and campaign: every trigger of the pair lands in the same arm', () => {
    const arms = new Set<string>();
    for (let index = 0; index < 20; index += 1) {
      const trigger = baseTrigger({ triggerId: `t-${index}`, holdoutShare: 0.5, recipientId: 'same-recipient' });
      arms.add(decided(trigger).arm);
    }
    expect(arms.size).toBe(1);
  });

  it('FALLBACK_THIN_HISTORY: the default local time, else the window start', () => {
    const zone = 'Asia/Kathmandu';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T11:20', zone), defaultLocalMinute: 18 * 60 + 30 });
    expect(decided(trigger, baseContext(trigger, { thinHistory: true }))).toMatchObject({
      reason: 'FALLBACK_THIN_HISTORY',
      arm: 'TREATMENT',
      bindingConstraint: 'DEFAULT_TIME',
      localSendTime: '2025-06-02T18:30:00.000+05:45',
    });
    const noDefault = baseTrigger({ ...trigger, defaultLocalMinute: null });
    expect(decided(noDefault, baseContext(noDefault, { thinHistory: true }))).toMatchObject({ reason: 'FALLBACK_THIN_HISTORY', sendAtMs: noDefault.occurredAtMs, bindingConstraint: 'WINDOW_START' });
    // No scores at all counts as thin history, and reports no top slots.
    const noScores = decided(noDefault, baseContext(noDefault, { slotScores: null }));
    expect(noScores).toMatchObject({ reason: 'FALLBACK_THIN_HISTORY', topSlots: [] });
  });

  it('FALLBACK_THIN_HISTORY: a default time in a DST gap moves forward', () => {
    const zone = 'America/New_York';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-03-08T22:00', zone), defaultLocalMinute: 2 * 60 + 30 });
    expect(decided(trigger, baseContext(trigger, { thinHistory: true }))).toMatchObject({ localSendTime: '2025-03-09T03:00:00.000-04:00', bindingConstraint: 'DEFAULT_TIME' });
  });

  it('EXPLORATION: with share 1 every trigger explores, propensity 1/n', () => {
    const exploring = compileDecisionConfig({ explorationShare: 1, holdoutShare: 0 });
    const trigger = baseTrigger({ occurredAtMs: Date.UTC(2025, 5, 2, 12, 0), windowHours: 10 });
    const decision = decided(trigger, baseContext(trigger), exploring);
    expect(decision).toMatchObject({ reason: 'EXPLORATION', exploration: true, arm: 'TREATMENT' });
    expect(decision.propensity).toBeCloseTo(1 / 11, 12);
    expect((decision.sendAtMs - trigger.occurredAtMs) % HOUR).toBe(0);
  });

  it('OPTIMIZED: the best slot of the window, with the top 3 allowed slots', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T09:10', zone), windowHours: 48 });
    const scores = peakScores(hourOfWeek(2, 19), hourOfWeek(1, 12), hourOfWeek(2, 7));
    const decision = decided(trigger, baseContext(trigger, { slotScores: scores }));
    expect(decision).toMatchObject({ reason: 'OPTIMIZED', bindingConstraint: 'NONE', localSendTime: '2025-06-03T19:00:00.000+02:00', propensity: 1, exploration: false });
    expect(decision.topSlots.map((slot) => slot.hourOfWeek)).toEqual([hourOfWeek(2, 19), hourOfWeek(1, 12), hourOfWeek(2, 7)]);
    expect(decision.topSlots[1]!.sendAtMs).toBe(local('2025-06-02T12:00', zone));
    expect(decision.scheduleId).toBe(scheduleIdOf(trigger.triggerId, trigger.recipientId));
    expect(decision.scheduleId).toMatch(/^[0-9a-f]{32}$/);
    expect(decision).toMatchObject({ timeZone: zone, timeZoneSource: 'TRIGGER', modelVersion: config.modelVersion, historyDepth: { events: 40, activeDays: 12 }, evidence: { individual: 0.6, cohort: 0.3, global: 0.1 } });
    expect(decision.windowEndMs - decision.windowStartMs).toBe(48 * HOUR);
  });

  it('OPTIMIZED: propensity reflects the exploration share (1 - share + share / n)', () => {
    const withExploration = compileDecisionConfig({ explorationShare: 0.05, holdoutShare: 0 });
    const scores = peakScores(hourOfWeek(1, 20));
    for (let index = 0; index < 50; index += 1) {
      const trigger = baseTrigger({ triggerId: `p-${index}`, windowHours: 9 });
      const decision = decided(trigger, baseContext(trigger, { slotScores: scores }), withExploration);
      if (decision.reason === 'OPTIMIZED') {
        expect(decision.propensity).toBeCloseTo(0.95 + 0.05 / 10, 12);
        return;
      }
    }
    throw new Error('no optimized decision in 50 triggers');
  });

  it('NOW: a trigger arriving mid-hour whose best slot is the current hour goes now', () => {
    const zone = 'America/New_York';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T18:40:12', zone), windowHours: 24 });
    const decision = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(1, 18)) }));
    expect(decision).toMatchObject({ reason: 'OPTIMIZED', sendAtMs: trigger.occurredAtMs, bindingConstraint: 'NOW' });
  });

  it('QUIET_HOURS: a quiet best slot is removed and the best allowed slot wins (no pile-up at the quiet end)', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T12:00', zone), windowHours: 24, quietHours: night });
    // Best 23:00 (quiet), then 15:00, then 08:00 (the quiet end).
    const scores = peakScores(hourOfWeek(1, 23), hourOfWeek(1, 15), hourOfWeek(2, 8));
    const decision = decided(trigger, baseContext(trigger, { slotScores: scores }));
    expect(decision).toMatchObject({ reason: 'OPTIMIZED', localSendTime: '2025-06-02T15:00:00.000+02:00', bindingConstraint: 'QUIET_HOURS' });
    expect(decision.topSlots.map((slot) => slot.hourOfWeek)).not.toContain(hourOfWeek(1, 23));
  });

  it('DEFER_TO_END: the best slot ignoring quiet hours, deferred to their end', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T12:00', zone), windowHours: 24, quietHours: night, quietHoursPolicy: 'DEFER_TO_END' });
    const scores = peakScores(hourOfWeek(1, 23), hourOfWeek(1, 15));
    expect(decided(trigger, baseContext(trigger, { slotScores: scores }))).toMatchObject({ reason: 'OPTIMIZED', localSendTime: '2025-06-03T08:00:00.000+02:00', bindingConstraint: 'QUIET_HOURS' });
    // Configured as the default policy too.
    const deferring = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0, defaultQuietHoursPolicy: 'DEFER_TO_END' });
    const plain = baseTrigger({ ...trigger, quietHoursPolicy: null });
    expect(decided(plain, baseContext(plain, { slotScores: scores }), deferring).localSendTime).toBe('2025-06-03T08:00:00.000+02:00');
    // Deferred past the window end: flagged FORCED.
    const short = baseTrigger({ ...trigger, windowHours: 12 });
    expect(decided(short, baseContext(short, { slotScores: scores }))).toMatchObject({ localSendTime: '2025-06-03T08:00:00.000+02:00', bindingConstraint: 'QUIET_HOURS_FORCED' });
  });

  it('QUIET_HOURS_FORCED: every slot of the window is quiet, so the first allowed minute after it', () => {
    const zone = 'America/New_York';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T23:05', zone), windowHours: 3, quietHours: night });
    const decision = decided(trigger);
    expect(decision).toMatchObject({ reason: 'OPTIMIZED', localSendTime: '2025-06-03T08:00:00.000-04:00', bindingConstraint: 'QUIET_HOURS_FORCED', propensity: 1, topSlots: [] });
    expect(decision.sendAtMs).toBeGreaterThan(decision.windowEndMs);
  });

  it('QUIET_HOURS: quiet slots only, but the quiet range ends inside the window (mid-hour)', () => {
    const zone = 'UTC';
    // Window [21:40, 22:40]: now and 22:00 are quiet, the range ends at 22:20.
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: Date.UTC(2025, 5, 2, 21, 40), windowHours: 1, quietHours: { startMinute: 21 * 60, endMinute: 22 * 60 + 20 } });
    expect(decided(trigger)).toMatchObject({ sendAtMs: Date.UTC(2025, 5, 2, 22, 20), bindingConstraint: 'QUIET_HOURS', topSlots: [] });
  });

  it('WINDOW_END: when the curve still rises at the window end, the window end wins', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-06-02T09:30', zone), windowHours: 6 });
    const scores = new Float64Array(168).fill(0.01);
    for (let hour = 9; hour <= 18; hour += 1) scores[hourOfWeek(1, hour)] = hour / 100;
    const decision = decided(trigger, baseContext(trigger, { slotScores: scores }));
    expect(decision).toMatchObject({ reason: 'OPTIMIZED', sendAtMs: local('2025-06-02T15:30', zone), bindingConstraint: 'WINDOW_END' });
    // Not when the next hour scores lower: then the best slot itself.
    scores[hourOfWeek(1, 16)] = 0;
    expect(decided(trigger, baseContext(trigger, { slotScores: scores }))).toMatchObject({ sendAtMs: local('2025-06-02T15:00', zone), bindingConstraint: 'NONE' });
  });

  it('time zone source: trigger, else learned, else default', () => {
    const trigger = baseTrigger({ timeZone: null });
    expect(decided(trigger, baseContext(trigger, { learnedTimeZone: 'Asia/Tokyo' }))).toMatchObject({ timeZone: 'Asia/Tokyo', timeZoneSource: 'LEARNED' });
    expect(decided(trigger, baseContext(trigger, { learnedTimeZone: 'Not/A_Zone' }))).toMatchObject({ timeZone: 'UTC', timeZoneSource: 'DEFAULT' });
    const berlinDefault = compileDecisionConfig({ explorationShare: 0, holdoutShare: 0, defaultTimeZone: 'Europe/Berlin' });
    expect(decided(trigger, baseContext(trigger), berlinDefault)).toMatchObject({ timeZone: 'Europe/Berlin', timeZoneSource: 'DEFAULT' });
    const fixed = baseTrigger({ timeZone: '+05:45' });
    expect(decided(fixed, baseContext(fixed, { learnedTimeZone: 'Asia/Tokyo' }))).toMatchObject({ timeZone: 'UTC+05:45', timeZoneSource: 'TRIGGER' });
  });

  it('rejects a context that breaks its contract', () => {
    const trigger = baseTrigger();
    expect(() => decide(trigger, baseContext(trigger, { slotScores: new Float64Array(24) }), config)).toThrow(RangeError);
    expect(() => decide(trigger, baseContext(trigger, { nowMs: Number.NaN }), config)).toThrow(RangeError);
  });

  it('treats a non-finite score as 0', () => {
    const trigger = baseTrigger({ windowHours: 3 });
    const scores = new Float64Array(168).fill(Number.NaN);
    scores[hourOfWeek(1, 14)] = 0.5;
    const decision = decided(trigger, baseContext(trigger, { slotScores: scores }));
    expect(decision.sendAtMs).toBe(Date.UTC(2025, 5, 2, 14));
    expect(JSON.stringify(decision)).not.toContain('null');
  });
});

describe('DST edges in the decision', () => {
  it('US spring-forward: the nonexistent 02:00 slot is never chosen; 03:00 EDT is a slot', () => {
    const zone = 'America/New_York';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-03-09T00:30', zone), windowHours: 5 });
    // Sunday 02:00 is the best hour of week but does not exist that night; 03:00 is second.
    const decision = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(7, 2), hourOfWeek(7, 3)) }));
    expect(decision).toMatchObject({ localSendTime: '2025-03-09T03:00:00.000-04:00', sendAtMs: Date.parse('2025-03-09T07:00:00Z') });
    expect(decision.topSlots.map((slot) => slot.hourOfWeek)).not.toContain(hourOfWeek(7, 2));
  });

  it('US fall-back: a best 01:00 slot happens twice; the earlier one (EDT) wins the tie', () => {
    const zone = 'America/New_York';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-11-02T00:10', zone), windowHours: 4 });
    const decision = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(7, 1)) }));
    expect(decision.localSendTime).toBe('2025-11-02T01:00:00.000-04:00');
    expect(decision.topSlots.slice(0, 2).map((slot) => slot.sendAtMs)).toEqual([Date.parse('2025-11-02T05:00:00Z'), Date.parse('2025-11-02T06:00:00Z')]);
  });

  it('Europe/Berlin: a 24 h window over the 23 h day offers 24 slots across two local dates', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-03-30T00:00', zone), windowHours: 24 });
    const scores = peakScores(hourOfWeek(1, 0));
    const decision = decided(trigger, baseContext(trigger, { slotScores: scores }));
    // Monday 00:00 is 23 real hours after Sunday 00:00 on this day, so it is inside the window.
    expect(decision.localSendTime).toBe('2025-03-31T00:00:00.000+02:00');
    expect(decision.sendAtMs - trigger.occurredAtMs).toBe(23 * HOUR);
  });

  it('Europe/Berlin: on the 25 h day a 24 h window ends at 23:00 local, so Monday 00:00 is out of reach', () => {
    const zone = 'Europe/Berlin';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: local('2025-10-26T00:00', zone), windowHours: 24 });
    const scores = peakScores(hourOfWeek(1, 0), hourOfWeek(7, 22));
    const decision = decided(trigger, baseContext(trigger, { slotScores: scores }));
    expect(decision).toMatchObject({ localSendTime: '2025-10-26T22:00:00.000+01:00', bindingConstraint: 'NONE' });
    expect(formatLocalIso(decision.windowEndMs, zone)).toBe('2025-10-26T23:00:00.000+01:00');
    // With 23:00 scoring lowest of the evening and Monday 00:00 best, the curve rises at the end.
    scores[hourOfWeek(7, 22)] = 0.01;
    scores[hourOfWeek(7, 23)] = 0.5;
    expect(decided(trigger, baseContext(trigger, { slotScores: scores }))).toMatchObject({ localSendTime: '2025-10-26T23:00:00.000+01:00', bindingConstraint: 'WINDOW_END' });
  });

  it('Australia/Lord_Howe: the slot after the 30-minute shift is at :00 UTC', () => {
    const zone = 'Australia/Lord_Howe';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: Date.parse('2025-10-04T13:10:00Z'), windowHours: 6 });
    const decision = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(7, 4)) }));
    expect(decision.localSendTime).toBe('2025-10-05T04:00:00.000+11:00');
    expect(decision.sendAtMs).toBe(Date.parse('2025-10-04T17:00:00Z'));
    const before = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(7, 1)) }));
    expect(before.sendAtMs).toBe(Date.parse('2025-10-04T14:30:00Z'));
  });

  it('Asia/Kathmandu: slots at +05:45', () => {
    const zone = 'Asia/Kathmandu';
    const trigger = baseTrigger({ timeZone: zone, occurredAtMs: Date.parse('2025-06-02T00:00:00Z'), windowHours: 24 });
    const decision = decided(trigger, baseContext(trigger, { slotScores: peakScores(hourOfWeek(1, 20)) }));
    expect(decision.localSendTime).toBe('2025-06-02T20:00:00.000+05:45');
    expect(decision.sendAtMs).toBe(Date.parse('2025-06-02T14:15:00Z'));
  });
});
