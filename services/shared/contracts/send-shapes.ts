import avro from 'avsc';
import type { Channel, DecisionReason, FrequencyCaps, QuietHours, ReadySend, ScheduledSend, StopRule, UnreleasedOutcome, UnreleasedSend } from './record-types.ts';
import { CHANNELS } from './record-types.ts';

/**
 * The shapes of one send, and the only place that maps between them: the engine's decision
 * becomes a ScheduledSend; the delay service keeps it as a PendingSend and turns it into a
 * ReadySend when it releases it or an UnreleasedSend when it does not. A field added to a send
 * is added here once.
 */

/** What of a decision the scheduled send carries (the model's Decision has these and more). */
export interface DecisionFields {
  scheduleId: string;
  sendAtMs: number;
  localSendTime: string;
  timeZone: string;
  timeZoneSource: ScheduledSend['timeZoneSource'];
  reason: DecisionReason;
  propensity: number;
  exploration: boolean;
  arm: ScheduledSend['arm'];
  topSlots: ReadonlyArray<{ sendAtMs: number; hourOfWeek: number; score: number }>;
  evidence: ScheduledSend['evidence'];
  bindingConstraint: ScheduledSend['bindingConstraint'];
  modelVersion: string;
  historyDepth: { events: number; activeDays: number };
}

/** What of the trigger the send carries. */
export interface TriggerFields {
  triggerId: string;
  recipientId: string;
  campaignId: string;
  messageId: string | null;
  occurredAt: number;
  payload: Buffer;
}

/** The fields a ScheduledSend gets from the campaign's settings and the release conditions (all optional in v2). */
export type SendConditions = Pick<ScheduledSend, 'quietHours' | 'expiresAt' | 'correlationId' | 'step' | 'stopOn' | 'caps' | 'settingsSources'>;

export function scheduledSendOf(decision: DecisionFields, trigger: TriggerFields, channel: Channel, conditions: Partial<SendConditions>): ScheduledSend {
  return {
    scheduleId: decision.scheduleId,
    action: 'SCHEDULE',
    triggerId: trigger.triggerId,
    recipientId: trigger.recipientId,
    campaignId: trigger.campaignId,
    messageId: trigger.messageId,
    channel,
    sendAt: decision.sendAtMs,
    localSendTime: decision.localSendTime,
    timeZone: decision.timeZone,
    timeZoneSource: decision.timeZoneSource,
    reason: decision.reason,
    propensity: decision.propensity,
    exploration: decision.exploration,
    arm: decision.arm,
    topSlots: decision.topSlots.map((slot) => ({ sendAt: slot.sendAtMs, hourOfWeek: slot.hourOfWeek, score: slot.score })),
    evidence: decision.evidence,
    bindingConstraint: decision.bindingConstraint,
    modelVersion: decision.modelVersion,
    historyEvents: decision.historyDepth.events,
    historyActiveDays: decision.historyDepth.activeDays,
    triggeredAt: trigger.occurredAt,
    payload: trigger.payload,
    ...conditions,
  };
}

/** A scheduled send as the delay service holds it until its instant: what its release will carry, and the release conditions. */
export interface PendingSend extends Omit<ReadySend, 'releasedAt'> {
  /** Checked again at release (absent in sends stored by earlier versions: none). */
  quietHours?: QuietHours | null;
  expiresAt?: number | null;
  /** Since ScheduledSend v2 (absent in sends stored by earlier versions: no stop rules, no caps). */
  triggeredAt?: number;
  correlationId?: string | null;
  step?: number;
  stopOn?: StopRule[];
  caps?: FrequencyCaps | null;
}

export function pendingSendOf(send: ScheduledSend): PendingSend {
  return {
    scheduleId: send.scheduleId,
    triggerId: send.triggerId,
    recipientId: send.recipientId,
    campaignId: send.campaignId,
    messageId: send.messageId,
    channel: send.channel,
    reason: send.reason,
    sendAt: send.sendAt,
    timeZone: send.timeZone,
    payload: send.payload,
    quietHours: send.quietHours ?? null,
    expiresAt: send.expiresAt ?? null,
    triggeredAt: send.triggeredAt,
    correlationId: send.correlationId ?? null,
    step: send.step ?? 1,
    stopOn: send.stopOn ?? [],
    caps: send.caps ?? null,
  };
}

/** The fields that name a send, the same in every record made of it. */
function identityOf(send: PendingSend | ScheduledSend): Pick<ReadySend, 'scheduleId' | 'triggerId' | 'recipientId' | 'campaignId' | 'messageId' | 'channel'> {
  return { scheduleId: send.scheduleId, triggerId: send.triggerId, recipientId: send.recipientId, campaignId: send.campaignId, messageId: send.messageId, channel: send.channel };
}

/** A send released at `releasedAt` (by the delay service, or by the engine for an urgent bypass). */
export function readySendOf(send: PendingSend | ScheduledSend, releasedAt: number): ReadySend {
  return { ...identityOf(send), reason: send.reason, sendAt: send.sendAt, releasedAt, timeZone: send.timeZone, payload: send.payload };
}

export function unreleasedSendOf(send: PendingSend, outcome: UnreleasedOutcome, detail: string, decidedAt: number): UnreleasedSend {
  return {
    ...identityOf(send),
    sendAt: send.sendAt,
    expiresAt: send.expiresAt ?? null,
    outcome,
    detail,
    decidedAt,
    correlationId: send.correlationId ?? null,
    step: send.step ?? 1,
  };
}

/**
 * The delay store's encoding of a pending send: a format byte, then Avro (binary, no field names,
 * payload as raw bytes). Values stored by earlier versions are JSON with a base64 payload; they
 * start with `{` and are still read (and written back in Avro when the send is next written).
 */
const PENDING_AVRO_V1 = 1;
const JSON_OPEN_BRACE = 0x7b;

const QUIET_HOURS: avro.Schema = { type: 'record', name: 'QuietHours', fields: [{ name: 'startMinute', type: 'int' }, { name: 'endMinute', type: 'int' }] };
const PENDING_SCHEMA: avro.Schema = {
  type: 'record',
  name: 'PendingSend',
  namespace: 'io.sto.delay.store',
  fields: [
    { name: 'scheduleId', type: 'string' },
    { name: 'triggerId', type: 'string' },
    { name: 'recipientId', type: 'string' },
    { name: 'campaignId', type: 'string' },
    { name: 'messageId', type: ['null', 'string'] },
    { name: 'channel', type: { type: 'enum', name: 'Channel', symbols: [...CHANNELS] } },
    { name: 'reason', type: 'string' },
    { name: 'sendAt', type: 'long' },
    { name: 'timeZone', type: 'string' },
    { name: 'payload', type: 'bytes' },
    { name: 'quietHours', type: ['null', QUIET_HOURS] },
    { name: 'expiresAt', type: ['null', 'long'] },
    { name: 'triggeredAt', type: ['null', 'long'] },
    { name: 'correlationId', type: ['null', 'string'] },
    { name: 'step', type: 'int' },
    {
      name: 'stopOn',
      type: { type: 'array', items: { type: 'record', name: 'StopRule', fields: [{ name: 'eventType', type: 'string' }, { name: 'sameCorrelation', type: 'boolean' }, { name: 'sameCampaign', type: 'boolean' }] } },
    },
    { name: 'caps', type: ['null', { type: 'record', name: 'FrequencyCaps', fields: [{ name: 'perDay', type: ['null', 'int'] }, { name: 'perWeek', type: ['null', 'int'] }] }] },
  ],
};
const PENDING_TYPE = avro.Type.forSchema(PENDING_SCHEMA);

export function encodePendingSend(send: PendingSend): Buffer {
  const body = PENDING_TYPE.toBuffer({
    ...send,
    quietHours: send.quietHours ?? null,
    expiresAt: send.expiresAt ?? null,
    triggeredAt: send.triggeredAt ?? null,
    correlationId: send.correlationId ?? null,
    step: send.step ?? 1,
    stopOn: send.stopOn ?? [],
    caps: send.caps ?? null,
  });
  const value = Buffer.allocUnsafe(body.length + 1);
  value[0] = PENDING_AVRO_V1;
  body.copy(value, 1);
  return value;
}

const CHANNEL_SET: ReadonlySet<string> = new Set(CHANNELS);

/** Decodes a stored pending send (Avro, or JSON of earlier versions), or says why it cannot be one. */
export function decodePendingSend(value: Buffer): PendingSend | { corrupt: string } {
  if (value.length > 0 && value[0] === PENDING_AVRO_V1) {
    try {
      const decoded = PENDING_TYPE.fromBuffer(value.subarray(1)) as PendingSend & { triggeredAt: number | null };
      const { triggeredAt, ...rest } = decoded;
      return triggeredAt === null ? rest : { ...rest, triggeredAt };
    } catch (error) {
      return { corrupt: `not a stored pending send (Avro): ${(error as Error).message}` };
    }
  }
  if (value.length === 0 || value[0] !== JSON_OPEN_BRACE) return { corrupt: `unknown format byte ${value[0] ?? 'none'}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return { corrupt: `not JSON: ${(error as Error).message}` };
  }
  const send = parsed as Record<string, unknown> | null;
  if (typeof send !== 'object' || send === null) return { corrupt: 'not an object' };
  for (const field of ['scheduleId', 'recipientId', 'triggerId', 'campaignId', 'timeZone', 'payload'] as const) {
    if (typeof send[field] !== 'string') return { corrupt: `field ${field} is not a string` };
  }
  if (typeof send.sendAt !== 'number' || !Number.isFinite(send.sendAt)) return { corrupt: 'field sendAt is not a number' };
  if (typeof send.channel !== 'string' || !CHANNEL_SET.has(send.channel)) return { corrupt: `field channel ${JSON.stringify(send.channel)} is not a channel` };
  return { ...(send as unknown as PendingSend), payload: Buffer.from(send.payload as string, 'base64') };
}
