import { describe, expect, it } from 'vitest';
import { ENGINE_KEYS } from '../../../services/engine/recipient-state.ts';
import type { EngagementEvent, ScheduledSend, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import { readSchemaJson } from '../../../services/shared/contracts/schema-files.ts';
import { ErrorCode } from '../../../services/shared/errors.ts';
import { EngineHarness } from '../../support/engine-harness.ts';
import { withEnumSymbol } from '../../support/schema-evolution.ts';

const AT = Date.UTC(2026, 10, 30, 9);

const event = (overrides: Record<string, unknown>): Record<string, unknown> => ({
  eventId: 'e-1', recipientId: 'alice', channel: 'EMAIL', eventType: 'OPEN', occurredAt: AT, timeZone: 'Europe/Paris',
  campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {}, ...overrides,
});
const trigger = (overrides: Record<string, unknown>): Record<string, unknown> => ({
  triggerId: 't-1', recipientId: 'alice', campaignId: 'c', messageId: null, channel: 'EMAIL', triggerKind: 'CAMPAIGN', urgency: 'NORMAL', occurredAt: AT,
  timeZone: 'Europe/Paris', windowHours: 24, sendAt: null, quietHours: null, quietHoursPolicy: null, defaultLocalMinute: null, objective: 'OPEN', holdoutShare: null,
  payload: Buffer.alloc(0), attributes: {}, ...overrides,
});

describe('records from a newer writer with enum symbols this engine does not know', () => {
  it('an engagement event on a WHATSAPP channel or of a new type is counted and skipped', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    const byChannel = withEnumSymbol(readSchemaJson('engagement'), 'Channel', 'WHATSAPP');
    const byType = withEnumSymbol(readSchemaJson('engagement'), 'EngagementType', 'REPLY');
    const batch = await harness.handle(topics.engagement, [
      { key: 'alice', value: harness.encodeWith(byChannel, 'engagement', event({ eventId: 'e-1', channel: 'WHATSAPP' })) },
      { key: 'alice', value: harness.encodeWith(byType, 'engagement', event({ eventId: 'e-2', eventType: 'REPLY' })) },
    ]);
    expect(batch).toEqual({ outputs: [], deadLettered: [] });
    expect(await harness.store.get(ENGINE_KEYS.recipient('alice'))).toBeUndefined();
    expect(await harness.metric('sto_engine_engagement_events_total', { outcome: 'unknown_symbol' })).toBe(2);
    expect(await harness.metric('sto_engine_unknown_symbols_total', { contract: 'engagement', field: 'channel' })).toBe(1);
    expect(await harness.metric('sto_engine_unknown_symbols_total', { contract: 'engagement', field: 'eventType' })).toBe(1);
    // Known symbols from the same newer writer are applied as usual.
    await harness.handle(topics.engagement, [{ key: 'alice', value: harness.encodeWith(byChannel, 'engagement', event({ eventId: 'e-3' })) }]);
    expect(await harness.store.get(ENGINE_KEYS.recipient('alice'))).toBeDefined();
  });

  it('a trigger for a WHATSAPP channel is dead-lettered with a clear reason and counted', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    const schema = withEnumSymbol(readSchemaJson('trigger'), 'Channel', 'WHATSAPP');
    const batch = await harness.handle(topics.triggers, [{ key: 'alice', value: harness.encodeWith(schema, 'trigger', trigger({ channel: 'WHATSAPP' })) }]);
    expect(batch.outputs).toEqual([]);
    expect(batch.deadLettered).toHaveLength(1);
    expect(batch.deadLettered[0]!.code).toBe(ErrorCode.UNKNOWN_SYMBOL);
    expect(batch.deadLettered[0]!.reason).toMatch(/channel is a symbol this engine does not know/);
    expect(await harness.metric('sto_engine_unknown_symbols_total', { contract: 'trigger', field: 'channel' })).toBe(1);
  });

  it('a trigger with a new urgency, kind, objective or quiet-hours policy is decided on the safe reading, and counted', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    let schema = readSchemaJson('trigger');
    for (const [name, symbol] of [['Urgency', 'CRITICAL'], ['TriggerKind', 'RENEWAL'], ['Objective', 'REVENUE'], ['QuietHoursPolicy', 'SKIP']] as const) schema = withEnumSymbol(schema, name, symbol);
    // An SMS marked with an urgency the engine does not know must not bypass optimization.
    const value = trigger({ channel: 'SMS', urgency: 'CRITICAL', triggerKind: 'RENEWAL', objective: 'REVENUE', quietHoursPolicy: 'SKIP', quietHours: { startMinute: 1320, endMinute: 420 } });
    const batch = await harness.handle(topics.triggers, [{ key: 'alice', value: harness.encodeWith(schema, 'trigger', value) }]);
    expect(batch.deadLettered).toEqual([]);
    expect(batch.outputs.map((output) => output.topic)).toEqual([topics.scheduled]);
    const scheduled = await harness.codec.decode<ScheduledSend>('scheduled', batch.outputs[0]!.message.value as Buffer);
    expect(scheduled.reason).not.toBe('URGENT_BYPASS');
    for (const field of ['urgency', 'triggerKind', 'objective', 'quietHoursPolicy']) {
      expect(await harness.metric('sto_engine_unknown_symbols_total', { contract: 'trigger', field }), field).toBe(1);
    }
  });

  it('records of our own writer hold no UNKNOWN', async () => {
    const harness = await EngineHarness.create();
    const { topics } = harness.config.common;
    await harness.handle(topics.engagement, [{ key: 'alice', value: harness.encode('engagement', event({}) as unknown as EngagementEvent) }]);
    await harness.handle(topics.triggers, [{ key: 'alice', value: harness.encode('trigger', trigger({}) as unknown as SendTrigger) }]);
    expect(await harness.metric('sto_engine_unknown_symbols_total')).toBe(0);
  });
});
