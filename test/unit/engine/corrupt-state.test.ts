import { describe, expect, it } from 'vitest';
import { decodeRecipient } from '../../../services/engine/recipient-record.ts';
import { ENGINE_KEYS } from '../../../services/engine/recipient-state.ts';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { EngagementEvent } from '../../../services/shared/contracts/record-types.ts';
import { ErrorCode } from '../../../services/shared/errors.ts';
import { EngineHarness } from '../../support/engine-harness.ts';

const AT = Date.UTC(2026, 10, 30, 9);

function open(recipientId: string, eventId: string, timeZone: string | null = 'Europe/Paris'): EngagementEvent {
  return { eventId, recipientId, channel: 'EMAIL', eventType: 'OPEN', occurredAt: AT, timeZone, campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {} };
}

describe('a corrupt stored value', () => {
  it('is quarantined (key and bytes dead-lettered, counted) and the recipient starts fresh; the next record is processed', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    await harness.putRaw(ENGINE_KEYS.recipient('alice'), garbage);

    const records = [open('alice', 'a-1'), open('bob', 'b-1')].map((event) => ({ key: event.recipientId, value: harness.encode('engagement', event), timestamp: AT }));
    const batch = await harness.handle(topics.engagement, records);

    expect(batch.deadLettered).toEqual([]);
    expect(batch.outputs).toHaveLength(1);
    const output = batch.outputs[0]!;
    expect(output.topic).toBe(deadLetterTopic(topics.engagement));
    const letter = await harness.decodeDeadLetter(output);
    expect(letter).toMatchObject({ sourceTopic: topics.engineChangelog, sourcePartition: 0, sourceOffset: -1, errorCode: ErrorCode.CORRUPT_STATE, service: 'engine' });
    expect(letter.key?.toString()).toBe(ENGINE_KEYS.recipient('alice'));
    expect(letter.value).toEqual(garbage);
    expect(letter.reason).toContain('does not decode');
    expect(letter.headers['sto-input-topic']?.toString()).toBe(topics.engagement);
    expect(await harness.metric('sto_engine_corrupt_state_total', { kind: 'recipient' })).toBe(1);

    // Alice starts fresh with the event that met the corrupt value; Bob's event was applied too.
    const alice = decodeRecipient((await harness.store.get(ENGINE_KEYS.recipient('alice')))!);
    expect(alice.profile.events).toBe(1);
    expect(decodeRecipient((await harness.store.get(ENGINE_KEYS.recipient('bob')))!).profile.events).toBe(1);

    // Quarantined once: the next event of Alice reads her fresh record.
    const next = await harness.handle(topics.engagement, [{ key: 'alice', value: harness.encode('engagement', open('alice', 'a-2')), timestamp: AT }]);
    expect(next.outputs).toEqual([]);
    expect(decodeRecipient((await harness.store.get(ENGINE_KEYS.recipient('alice')))!).profile.events).toBe(2);
  });

  it('in an aggregate is quarantined too, and the aggregate restarts from the next event', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    await harness.putRaw(ENGINE_KEYS.global, Buffer.from([9, 9, 9]));
    const batch = await harness.handle(topics.engagement, [{ key: 'carol', value: harness.encode('engagement', open('carol', 'c-1')), timestamp: AT }]);
    expect(batch.deadLettered).toEqual([]);
    const letters = await Promise.all(batch.outputs.map((output) => harness.decodeDeadLetter(output)));
    expect(letters.map((letter) => letter.key?.toString())).toEqual([ENGINE_KEYS.global]);
    expect(await harness.metric('sto_engine_corrupt_state_total', { kind: 'aggregate' })).toBe(1);
  });

  it('met by a trigger does not stop the decision', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    await harness.putRaw(ENGINE_KEYS.recipient('dave'), Buffer.from([1]));
    const trigger = {
      triggerId: 't-1', recipientId: 'dave', campaignId: 'c', messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN', urgency: 'NORMAL', occurredAt: AT,
      timeZone: 'Europe/Paris', windowHours: 24, sendAt: null, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: 'OPEN', holdoutShare: null,
      payload: Buffer.alloc(0), attributes: {},
    };
    const batch = await harness.handle(topics.triggers, [{ key: 'dave', value: harness.encode('trigger', trigger), timestamp: AT }]);
    expect(batch.deadLettered).toEqual([]);
    expect(batch.outputs.map((output) => output.topic).sort()).toEqual([deadLetterTopic(topics.triggers), topics.scheduled].sort());
    expect(await harness.store.get(ENGINE_KEYS.recipient('dave'))).toBeUndefined();
  });
});
