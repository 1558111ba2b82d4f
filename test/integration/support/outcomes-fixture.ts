import type { Producer } from 'kafkajs';
import type { EngagementEvent, ReadySend, ScheduledSend } from '../../../services/shared/contracts/record-types.ts';
import type { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { valueSubject, type ContractName } from '../../../services/shared/contracts/schema-files.ts';

/** The ready send the delay service would emit for `send`, released at `releasedAt`. */
export function readyOf(send: ScheduledSend, releasedAt: number): ReadySend {
  return { scheduleId: send.scheduleId, triggerId: send.triggerId, recipientId: send.recipientId, campaignId: send.campaignId, messageId: send.messageId, channel: send.channel, reason: send.reason, sendAt: send.sendAt, releasedAt, timeZone: send.timeZone, payload: Buffer.alloc(0) };
}

/** A sender's report about `send` (scheduleId set unless `fields` says otherwise). */
export function engagementFor(send: ScheduledSend, eventId: string, eventType: EngagementEvent['eventType'], occurredAt: number, fields: Partial<EngagementEvent> = {}): EngagementEvent {
  return {
    eventId,
    recipientId: send.recipientId,
    channel: send.channel,
    eventType,
    occurredAt,
    timeZone: null,
    campaignId: send.campaignId,
    messageId: null,
    machineOpen: null,
    userAgent: null,
    deliveredAt: null,
    scheduleId: send.scheduleId,
    correlationId: null,
    value: null,
    currency: null,
    bounceKind: null,
    attributes: {},
    ...fields,
  };
}

/** Produces `records` (keyed by recipient id) with the contract's registered schema. */
export async function produceAs<T extends { recipientId: string }>(producer: Producer, codec: SchemaCodec, contract: ContractName, topic: string, records: T[]): Promise<void> {
  const writer = await codec.writer(contract, valueSubject(topic));
  for (let at = 0; at < records.length; at += 2_000) {
    await producer.send({ topic, messages: records.slice(at, at + 2_000).map((record) => ({ key: record.recipientId, value: codec.encode(writer, record) })) });
  }
}
