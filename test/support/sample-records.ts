import type {
  CampaignSettings,
  Channel,
  CampaignStop,
  DeadLetter,
  DecisionReason,
  EngagementEvent,
  EngagementType,
  ErasureRequest,
  ReadySend,
  ScheduledSend,
  SendTrigger,
  UnreleasedSend,
  SendOutcome,
} from '../../services/shared/contracts/record-types.ts';

// Deterministic, varied records of every contract: optional fields alternate between null and a
// value, enums cycle through their symbols, strings include non-ASCII text.

const CHANNELS: Channel[] = ['EMAIL', 'PUSH', 'SMS', 'IN_APP'];
const ENGAGEMENT_TYPES: EngagementType[] = ['SEND', 'DELIVERY', 'OPEN', 'CLICK', 'CONVERSION', 'SESSION', 'BOUNCE', 'COMPLAINT', 'UNSUBSCRIBE', 'RESUBSCRIBE'];
const REASONS: DecisionReason[] = ['OPTIMIZED', 'EXPLICIT_SEND_AT', 'URGENT_BYPASS', 'CONTROL', 'FALLBACK_THIN_HISTORY', 'EXPLORATION'];
const ZONES = ['Europe/Paris', 'America/New_York', '+05:30', 'Asia/Kathmandu', 'UTC'];
const BASE_MS = Date.UTC(2025, 2, 30, 0, 30); // the night Europe springs forward

function pick<T>(items: readonly T[], i: number): T {
  return items[i % items.length] as T;
}

/** Recipient ids as upstream apps use them: opaque strings, some e-mail-like, some non-ASCII. */
export function recipientIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    i % 3 === 0 ? `user-${i}@example.org` : i % 3 === 1 ? `r-${String(i).padStart(5, '0')}` : `Zoë-${i}-测试`,
  );
}

export function sampleEngagement(i: number, recipientId = `r-${i}`): EngagementEvent {
  const sparse = i % 2 === 0;
  return {
    eventId: `evt-${i}`,
    recipientId,
    channel: pick(CHANNELS, i),
    eventType: pick(ENGAGEMENT_TYPES, i),
    occurredAt: BASE_MS + i * 61_000,
    timeZone: sparse ? null : pick(ZONES, i),
    campaignId: sparse ? null : `camp-${i % 7}`,
    messageId: sparse ? null : `msg-${i}`,
    machineOpen: sparse ? null : i % 4 === 1,
    userAgent: sparse ? null : 'Mozilla/5.0 (Macintosh) AppleWebKit',
    deliveredAt: sparse ? null : BASE_MS + i * 61_000 - 5_000,
    scheduleId: sparse ? null : `sch-${i}`,
    correlationId: sparse ? null : `cart-${i % 11}`,
    value: sparse ? null : (i % 97) + 0.5,
    currency: sparse ? null : pick(['EUR', 'USD', 'JPY'] as const, i),
    bounceKind: sparse ? null : pick(['HARD', 'SOFT'] as const, i),
    attributes: sparse ? {} : { source: 'contract-test', 'ünïcode': 'välue' },
  };
}

export function sampleTrigger(i: number, recipientId = `r-${i}`): SendTrigger {
  const sparse = i % 2 === 0;
  return {
    triggerId: `trg-${i}`,
    recipientId,
    campaignId: `camp-${i % 7}`,
    messageId: sparse ? null : `msg-${i}`,
    channel: pick(CHANNELS, i),
    triggerKind: pick(['CAMPAIGN', 'JOURNEY', 'CART_RECOVERY', 'TRANSACTIONAL', 'OTHER'] as const, i),
    urgency: i % 5 === 2 ? 'URGENT' : 'NORMAL',
    occurredAt: BASE_MS + i * 3_600_000,
    timeZone: sparse ? null : pick(ZONES, i),
    windowHours: 1 + (i * 13) % 168,
    sendAt: i % 3 === 0 ? BASE_MS + i * 3_600_000 + 7_200_000 : null,
    quietHours: sparse ? null : { startMinute: 22 * 60, endMinute: 7 * 60 },
    quietHoursPolicy: sparse ? null : pick(['BEST_ALLOWED', 'DEFER_TO_END'] as const, i),
    defaultLocalMinute: sparse ? null : 9 * 60 + (i % 60),
    objective: pick(['OPEN', 'CLICK', 'CONVERSION'] as const, i),
    holdoutShare: sparse ? null : 0.05,
    payload: Buffer.from(sparse ? [] : [0, 1, 2, 250, 255, i % 256]),
    attributes: sparse ? {} : { journey: `j-${i}` },
    expiresAt: sparse ? null : BASE_MS + i * 3_600_000 + 86_400_000,
    correlationId: sparse ? null : `cart-${i % 11}`,
  };
}

export function sampleScheduled(i: number, recipientId = `r-${i}`): ScheduledSend {
  const sendAt = BASE_MS + i * 3_600_000;
  return {
    scheduleId: `sch-${i}`,
    action: i % 9 === 8 ? 'CANCEL' : 'SCHEDULE',
    triggerId: `trg-${i}`,
    recipientId,
    campaignId: `camp-${i % 7}`,
    messageId: i % 2 === 0 ? null : `msg-${i}`,
    channel: pick(CHANNELS, i),
    sendAt,
    localSendTime: '2025-03-30T03:00:00+02:00',
    timeZone: pick(ZONES, i),
    timeZoneSource: pick(['TRIGGER', 'LEARNED', 'DEFAULT'] as const, i),
    reason: pick(REASONS, i),
    propensity: i % 4 === 0 ? 1 : 0.95 / (1 + (i % 17)),
    exploration: i % 6 === 5,
    arm: i % 10 === 3 ? 'CONTROL' : 'TREATMENT',
    topSlots:
      i % 5 === 0
        ? []
        : [
            { sendAt, hourOfWeek: (i * 7) % 168, score: 0.125 },
            { sendAt: sendAt + 3_600_000, hourOfWeek: (i * 7 + 1) % 168, score: 1 / 3 },
          ],
    evidence: { individual: 0.5, cohort: 0.3, global: 0.2 },
    bindingConstraint: pick(['NONE', 'QUIET_HOURS', 'QUIET_HOURS_FORCED', 'WINDOW_END', 'WINDOW_START', 'NOW', 'EXPLICIT', 'DEFAULT_TIME'] as const, i),
    modelVersion: 'how-v1',
    historyEvents: 12.75 + i,
    historyActiveDays: i % 40,
    triggeredAt: sendAt - 3_600_000 * (1 + (i % 24)),
    payload: Buffer.from(i % 2 === 0 ? [] : [i % 256, 0, 255]),
    quietHours: i % 2 === 0 ? null : { startMinute: 22 * 60, endMinute: 7 * 60 },
    expiresAt: i % 3 === 0 ? null : sendAt + 43_200_000,
    correlationId: i % 2 === 0 ? null : `cart-${i % 11}`,
    step: 1 + (i % 3),
    stopOn: i % 2 === 0 ? [] : [{ eventType: 'CONVERSION', sameCorrelation: true, sameCampaign: false }, { eventType: 'UNSUBSCRIBE', sameCorrelation: false, sameCampaign: false }],
    caps: i % 3 === 0 ? null : { perDay: 2, perWeek: i % 2 === 0 ? null : 5 },
    settingsSources: i % 2 === 0 ? {} : { windowHours: 'CAMPAIGN', objective: 'TRIGGER', quietHours: 'DEPLOYMENT' },
  };
}

export function sampleReady(i: number, recipientId = `r-${i}`): ReadySend {
  const sendAt = BASE_MS + i * 3_600_000;
  return {
    scheduleId: `sch-${i}`,
    triggerId: `trg-${i}`,
    recipientId,
    campaignId: `camp-${i % 7}`,
    messageId: i % 2 === 0 ? null : `msg-${i}`,
    channel: pick(CHANNELS, i),
    reason: pick(REASONS, i),
    sendAt,
    releasedAt: sendAt + (i % 3) * 250,
    timeZone: pick(ZONES, i),
    payload: Buffer.from(i % 2 === 0 ? [] : [i % 256, 42]),
  };
}

export function sampleErasure(i: number, recipientId = `r-${i}`): ErasureRequest {
  return { requestId: `era-${i}`, recipientId, requestedAt: BASE_MS + i };
}

export function sampleDeadLetter(i: number): DeadLetter {
  return {
    sourceTopic: 'sto.triggers.v1',
    sourcePartition: i % 6,
    sourceOffset: 2 ** 40 + i,
    sourceTimestamp: BASE_MS,
    key: i % 2 === 0 ? null : Buffer.from(`r-${i}`),
    value: Buffer.from([1, 2, 3]),
    headers: { 'sto-channel': Buffer.from('EMAIL') },
    errorCode: 'UNDECODABLE',
    reason: 'unknown magic byte 1 (expected 0)',
    service: 'engine',
    failedAt: BASE_MS + 1,
  };
}

export function sampleUnreleased(i: number, recipientId = `r-${i}`): UnreleasedSend {
  const sendAt = BASE_MS + i * 3_600_000;
  return {
    scheduleId: `sch-${i}`,
    triggerId: `trg-${i}`,
    recipientId,
    campaignId: `camp-${i % 7}`,
    messageId: i % 2 === 0 ? null : `msg-${i}`,
    channel: pick(CHANNELS, i),
    sendAt,
    expiresAt: i % 3 === 0 ? null : sendAt + 3_600_000,
    // Sample 1 is also a v1 writer's record (the registry evolution test): EXPIRED, v1's only symbol.
    outcome: (['STOPPED', 'EXPIRED', 'SUPPRESSED', 'CAPPED', 'ERASED', 'CANCELLED'] as const)[i % 6]!,
    detail: `reached ${i} ms after its instant, past expiresAt`,
    decidedAt: sendAt + 7_200_000,
    correlationId: i % 2 === 0 ? null : `cart-${i}`,
    step: 1 + (i % 3),
  };
}

/** Campaign settings from sparse (nothing set) to full (a three-step sequence with stop rules and caps). */
export function sampleCampaignSettings(i: number): CampaignSettings {
  const sparse = i % 2 === 0;
  return {
    campaignId: `camp-${i}`,
    windowHours: sparse ? null : 1 + (i * 13) % 168,
    quietHours: sparse ? null : { startMinute: 21 * 60, endMinute: 8 * 60 },
    quietHoursPolicy: sparse ? null : pick(['BEST_ALLOWED', 'DEFER_TO_END'] as const, i),
    defaultLocalMinute: sparse ? null : 10 * 60,
    objective: sparse ? null : pick(['OPEN', 'CLICK', 'CONVERSION'] as const, i),
    holdoutShare: sparse ? null : 0.1,
    optimize: sparse ? null : i % 3 !== 0,
    urgency: sparse ? null : { urgentChannels: ['SMS', 'PUSH'], transactionalChannels: i % 3 === 0 ? null : ['EMAIL'], quietHoursApply: i % 3 === 1 ? false : null },
    expiryGraceMinutes: sparse ? null : 60,
    caps: sparse ? null : { perDay: 2, perWeek: i % 3 === 0 ? null : 5 },
    stopOn: sparse ? null : [{ eventType: 'CONVERSION', sameCorrelation: true, sameCampaign: false }, { eventType: 'UNSUBSCRIBE', sameCorrelation: false, sameCampaign: false }],
    steps: sparse
      ? []
      : [
          { startHours: 0, endHours: 1, immediate: true },
          { startHours: 20, endHours: 28, immediate: false },
          { startHours: 44, endHours: 52, immediate: false },
        ],
    updatedAt: sparse ? null : BASE_MS + i,
  };
}

export function sampleCampaignStop(i: number): CampaignStop {
  return { campaignId: `camp-${i % 7}`, stoppedAt: BASE_MS + i * 60_000, stoppedBy: `operator-${i % 3}`, reason: i % 2 === 0 ? '' : 'wrong offer' };
}

export function sampleOutcome(i: number, recipientId = `r-${i}`): SendOutcome {
  const sendAt = BASE_MS + i * 3_600_000;
  const delivered = i % 4 !== 0;
  return {
    scheduleId: `sch-${i}`,
    recipientId,
    campaignId: `camp-${i % 7}`,
    messageId: i % 2 === 0 ? null : `msg-${i}`,
    channel: pick(CHANNELS, i),
    arm: i % 5 === 0 ? 'CONTROL' : 'TREATMENT',
    reason: i % 5 === 0 ? 'CONTROL' : 'OPTIMIZED',
    propensity: i % 5 === 0 ? null : 0.9,
    exploration: false,
    bindingConstraint: 'NONE',
    localSendHour: i % 24,
    sendAt,
    triggeredAt: sendAt - 7_200_000,
    status: delivered ? 'DELIVERED' : 'UNDELIVERED',
    releasedAt: sendAt + 5,
    deliveredAt: delivered ? sendAt + 2_000 : null,
    windowEndsAt: delivered ? sendAt + 2_000 + 432_000_000 : null,
    firstOpenAt: delivered && i % 2 === 1 ? sendAt + 60_000 : null,
    machineOpens: i % 3,
    firstClickAt: null,
    conversions: i % 6 === 1 ? 1 : 0,
    value: i % 6 === 1 ? 19.5 : 0,
    currency: i % 6 === 1 ? 'EUR' : null,
    bounced: false,
    complained: false,
    unsubscribed: i % 9 === 0,
    closedAt: sendAt + 500_000_000,
  };
}

/** One valid record of each contract. */
export const SAMPLE_BY_CONTRACT = {
  engagement: sampleEngagement,
  trigger: sampleTrigger,
  scheduled: sampleScheduled,
  ready: sampleReady,
  erasure: sampleErasure,
  deadLetter: sampleDeadLetter,
  unreleased: sampleUnreleased,
  campaignSettings: sampleCampaignSettings,
  campaignStop: sampleCampaignStop,
  outcome: sampleOutcome,
} as const;

/** A plain scheduled send for tests about delivery (not about its fields): EMAIL, UTC, OPTIMIZED, no explanation. */
export function plainScheduledSend(ids: { scheduleId: string; triggerId: string; recipientId: string; campaignId: string }, sendAt: number, payload: string): ScheduledSend {
  return {
    ...ids,
    action: 'SCHEDULE',
    messageId: null,
    channel: 'EMAIL',
    sendAt,
    localSendTime: new Date(sendAt).toISOString(),
    timeZone: 'UTC',
    timeZoneSource: 'DEFAULT',
    reason: 'OPTIMIZED',
    propensity: 1,
    exploration: false,
    arm: 'TREATMENT',
    topSlots: [],
    evidence: { individual: 0, cohort: 0, global: 1 },
    bindingConstraint: 'NONE',
    modelVersion: 'test',
    historyEvents: 0,
    historyActiveDays: 0,
    triggeredAt: sendAt - 1_000,
    payload: Buffer.from(payload),
  };
}
