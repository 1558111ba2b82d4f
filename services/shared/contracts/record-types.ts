// TypeScript shapes of the Avro records in schemas/ (as avsc decodes them: longs are numbers of
// epoch milliseconds, bytes are Buffers, unions of null and T are T | null).

/** Every channel, in the order of the contracts' Channel enum: the one list of the code base. */
export const CHANNELS = ['EMAIL', 'PUSH', 'SMS', 'IN_APP'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * The enums of the input contracts (engagement events, triggers) carry an UNKNOWN symbol and
 * default to it: a symbol a newer writer added, which this reader does not know, reads as
 * UNKNOWN instead of failing the whole record. Readers must handle it explicitly.
 */
export const UNKNOWN_SYMBOL = 'UNKNOWN';
export type Readable<T extends string> = T | typeof UNKNOWN_SYMBOL;
export type EngagementType = 'SEND' | 'DELIVERY' | 'OPEN' | 'CLICK' | 'CONVERSION' | 'SESSION' | 'BOUNCE' | 'COMPLAINT' | 'UNSUBSCRIBE' | 'RESUBSCRIBE';
export type BounceKind = 'HARD' | 'SOFT';
export type TriggerKind = 'CAMPAIGN' | 'JOURNEY' | 'CART_RECOVERY' | 'TRANSACTIONAL' | 'OTHER';
export type Urgency = 'NORMAL' | 'URGENT';
export type Objective = 'OPEN' | 'CLICK' | 'CONVERSION';
export type QuietHoursPolicy = 'BEST_ALLOWED' | 'DEFER_TO_END';
export type DecisionReason = 'OPTIMIZED' | 'EXPLICIT_SEND_AT' | 'URGENT_BYPASS' | 'CONTROL' | 'FALLBACK_THIN_HISTORY' | 'EXPLORATION';
export type TimeZoneSource = 'TRIGGER' | 'LEARNED' | 'DEFAULT';
export type Arm = 'TREATMENT' | 'CONTROL';
export type BindingConstraint = 'NONE' | 'QUIET_HOURS' | 'QUIET_HOURS_FORCED' | 'WINDOW_END' | 'WINDOW_START' | 'NOW' | 'EXPLICIT' | 'DEFAULT_TIME';

export interface EngagementEvent {
  eventId: string;
  recipientId: string;
  channel: Channel;
  eventType: EngagementType;
  occurredAt: number;
  timeZone: string | null;
  campaignId: string | null;
  messageId: string | null;
  machineOpen: boolean | null;
  userAgent: string | null;
  deliveredAt: number | null;
  /** Since v2 (absent when a v1 writer's record is built in code; decoded records carry null). */
  scheduleId?: string | null;
  correlationId?: string | null;
  /** CONVERSION value in currency units, with its ISO 4217 currency. */
  value?: number | null;
  currency?: string | null;
  bounceKind?: Readable<BounceKind> | null;
  attributes: Record<string, string>;
}

/** An engagement event as a reader receives it (SendTrigger and EngagementEvent are what writers write). */
export interface ReceivedEngagementEvent extends Omit<EngagementEvent, 'channel' | 'eventType'> {
  channel: Readable<Channel>;
  eventType: Readable<EngagementType>;
}

export interface QuietHours {
  startMinute: number;
  endMinute: number;
}

export interface SendTrigger {
  triggerId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  channel: Channel;
  triggerKind: TriggerKind;
  urgency: Urgency;
  occurredAt: number;
  timeZone: string | null;
  /** Null (since v2): the campaign's window, else the deployment's (24 h). */
  windowHours: number | null;
  sendAt: number | null;
  quietHours: QuietHours | null;
  quietHoursPolicy: QuietHoursPolicy | null;
  defaultLocalMinute: number | null;
  /** Null (since v2): the campaign's objective, else OPEN. */
  objective: Objective | null;
  holdoutShare: number | null;
  payload: Buffer;
  attributes: Record<string, string>;
  /** Not released after this instant (null: the window's end plus the engine's grace). */
  expiresAt?: number | null;
  /** Since v2: ties the trigger to later events (the cart of a cart recovery). */
  correlationId?: string | null;
}

/** A trigger as a reader receives it: its enums may hold UNKNOWN. */
export interface ReceivedSendTrigger extends Omit<SendTrigger, 'channel' | 'triggerKind' | 'urgency' | 'quietHoursPolicy' | 'objective'> {
  channel: Readable<Channel>;
  triggerKind: Readable<TriggerKind>;
  urgency: Readable<Urgency>;
  quietHoursPolicy: Readable<QuietHoursPolicy> | null;
  objective: Readable<Objective> | null;
}

export interface SlotScore {
  sendAt: number;
  hourOfWeek: number;
  score: number;
}

export interface ScheduledSend {
  scheduleId: string;
  action: 'SCHEDULE' | 'CANCEL';
  triggerId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  channel: Channel;
  sendAt: number;
  localSendTime: string;
  timeZone: string;
  timeZoneSource: TimeZoneSource;
  reason: DecisionReason;
  propensity: number;
  exploration: boolean;
  arm: Arm;
  topSlots: SlotScore[];
  evidence: { individual: number; cohort: number; global: number };
  bindingConstraint: BindingConstraint;
  modelVersion: string;
  historyEvents: number;
  historyActiveDays: number;
  triggeredAt: number;
  payload: Buffer;
  /** Quiet hours the decision respected, in timeZone; checked again at release. */
  quietHours?: QuietHours | null;
  /** Not released after this instant, recorded as expired instead. */
  expiresAt?: number | null;
  /** Since v2: the trigger's correlation id, the sequence step (1 without steps), what stops it, its caps. */
  correlationId?: string | null;
  step?: number;
  stopOn?: StopRule[];
  caps?: FrequencyCaps | null;
  /** Since v2: where each setting of the decision came from (see SETTING_NAMES). */
  settingsSources?: Record<string, SettingsSource>;
}

/** Where a setting of a decision came from: the trigger's field, the campaign's settings, the deployment's config. */
export type SettingsSource = 'TRIGGER' | 'CAMPAIGN' | 'DEPLOYMENT';

/** Which channels bypass the wait for URGENT and TRANSACTIONAL triggers, and whether quiet hours still hold them. */
export interface UrgencyPolicy {
  urgentChannels: Readable<Channel>[] | null;
  transactionalChannels: Readable<Channel>[] | null;
  quietHoursApply: boolean | null;
}

/** One send of a sequence, in a window of hours after the trigger. */
export interface SequenceStep {
  startHours: number;
  endHours: number;
  /** At the window's start (after quiet hours), not optimized. */
  immediate: boolean;
}

/** A campaign's settings (sto.campaigns.settings.v1, keyed by campaignId): null = not set by the campaign. */
export interface CampaignSettings {
  campaignId: string;
  windowHours: number | null;
  quietHours: QuietHours | null;
  quietHoursPolicy: Readable<QuietHoursPolicy> | null;
  defaultLocalMinute: number | null;
  objective: Readable<Objective> | null;
  holdoutShare: number | null;
  optimize: boolean | null;
  urgency: UrgencyPolicy | null;
  expiryGraceMinutes: number | null;
  caps: FrequencyCaps | null;
  stopOn: StopRule[] | null;
  steps: SequenceStep[];
  updatedAt: number | null;
}

export type StopEventType = 'CONVERSION' | 'CLICK' | 'OPEN' | 'UNSUBSCRIBE' | 'COMPLAINT' | 'BOUNCE';

/** An engagement event of `eventType` by the recipient stops a pending send (narrowed by the flags). */
export interface StopRule {
  eventType: Readable<StopEventType>;
  sameCorrelation: boolean;
  sameCampaign: boolean;
}

/** Per recipient and channel: at most perDay releases in any rolling 24 h, perWeek in 7 days. */
export interface FrequencyCaps {
  perDay: number | null;
  perWeek: number | null;
}

export interface ReadySend {
  scheduleId: string;
  triggerId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  channel: Channel;
  reason: DecisionReason;
  sendAt: number;
  releasedAt: number;
  timeZone: string;
  payload: Buffer;
}

export interface ErasureRequest {
  requestId: string;
  recipientId: string;
  requestedAt: number;
}

export interface DeadLetter {
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  sourceTimestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  errorCode: string;
  reason: string;
  service: string;
  failedAt: number;
}

/** A scheduled send the delay service took out without releasing it (sto.sends.unreleased.v1). */
export interface UnreleasedSend {
  scheduleId: string;
  triggerId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  channel: Channel;
  sendAt: number;
  expiresAt: number | null;
  outcome: UnreleasedOutcome;
  detail: string;
  decidedAt: number;
  /** Since v2. */
  correlationId?: string | null;
  step?: number;
}

export type UnreleasedOutcome = 'EXPIRED' | 'STOPPED' | 'SUPPRESSED' | 'CAPPED' | 'ERASED' | 'CANCELLED';

/** An operator's stop of a whole campaign (sto.campaigns.stops.v1, compacted, keyed by campaignId). */
export interface CampaignStop {
  campaignId: string;
  stoppedAt: number;
  stoppedBy: string;
  reason: string;
}

export type OutcomeStatus = 'DELIVERED' | 'UNDELIVERED' | UnreleasedStatus;
/** Why a send was taken out without release, as the outcomes keep it (cancelled and erased sends are NOT_RELEASED). */
export type UnreleasedStatus = 'EXPIRED' | 'STOPPED' | 'SUPPRESSED' | 'CAPPED' | 'NOT_RELEASED';

/** One send's outcome, emitted when its conversion window closes (sto.sends.outcomes.v1). */
export interface SendOutcome {
  scheduleId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  channel: Channel;
  arm: Arm | typeof UNKNOWN_SYMBOL;
  reason: string;
  propensity: number | null;
  exploration: boolean;
  bindingConstraint: string | null;
  localSendHour: number | null;
  sendAt: number;
  triggeredAt: number | null;
  status: OutcomeStatus;
  releasedAt: number | null;
  deliveredAt: number | null;
  windowEndsAt: number | null;
  firstOpenAt: number | null;
  machineOpens: number;
  firstClickAt: number | null;
  conversions: number;
  value: number;
  currency: string | null;
  bounced: boolean;
  complained: boolean;
  unsubscribed: boolean;
  closedAt: number;
}
