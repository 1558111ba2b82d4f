import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../../../services/shared/contracts/record-types.ts';
import { readerType } from '../../../services/shared/contracts/schema-files.ts';
import { decodePendingSend, encodePendingSend, pendingSendOf, readySendOf, unreleasedSendOf } from '../../../services/shared/contracts/send-shapes.ts';
import { sampleScheduled } from '../../support/sample-records.ts';

describe('one shape for a send', () => {
  const scheduled = { ...sampleScheduled(3), correlationId: 'cart-3', step: 2, stopOn: [{ eventType: 'CONVERSION' as const, sameCorrelation: true, sameCampaign: false }], caps: { perDay: 1, perWeek: 3 } };

  it('a scheduled send becomes a pending send, then a valid ready or unreleased record with the same identity', () => {
    const pending = pendingSendOf(scheduled);
    const ready = readySendOf(pending, scheduled.sendAt + 5);
    expect(readerType('ready').isValid(ready)).toBe(true);
    expect(ready).toMatchObject({ scheduleId: scheduled.scheduleId, recipientId: scheduled.recipientId, channel: scheduled.channel, releasedAt: scheduled.sendAt + 5 });
    expect(ready.payload.equals(scheduled.payload)).toBe(true);
    const unreleased = unreleasedSendOf(pending, 'STOPPED', 'why', 7);
    expect(readerType('unreleased').isValid(unreleased)).toBe(true);
    expect(unreleased).toMatchObject({ scheduleId: scheduled.scheduleId, outcome: 'STOPPED', correlationId: 'cart-3', step: 2, decidedAt: 7 });
  });

  it('the store keeps Avro bytes that read back as the same pending send, smaller than the JSON with base64 it replaces', () => {
    const pending = pendingSendOf(scheduled);
    const stored = encodePendingSend(pending);
    expect(decodePendingSend(stored)).toEqual(pending);
    const legacy = Buffer.from(JSON.stringify({ ...pending, payload: pending.payload.toString('base64') }));
    expect(stored.length).toBeLessThan(legacy.length);
  });

  it('still reads the JSON values (base64 payload) earlier versions stored, and names what is wrong with a bad value', () => {
    const legacy = { scheduleId: 's', triggerId: 't', recipientId: 'r', campaignId: 'c', messageId: null, channel: 'SMS', reason: 'OPTIMIZED', sendAt: 5, timeZone: 'UTC', payload: Buffer.from('hello').toString('base64'), quietHours: null, expiresAt: null };
    const read = decodePendingSend(Buffer.from(JSON.stringify(legacy)));
    expect(read).toMatchObject({ scheduleId: 's', channel: 'SMS', sendAt: 5 });
    expect('corrupt' in read ? null : read.payload.toString()).toBe('hello');
    expect(decodePendingSend(Buffer.from(JSON.stringify({ ...legacy, channel: 'FAX' })))).toEqual({ corrupt: 'field channel "FAX" is not a channel' });
    expect(decodePendingSend(Buffer.from('{not json'))).toMatchObject({ corrupt: expect.stringMatching(/^not JSON/) });
    expect(decodePendingSend(Buffer.from([1, 200]))).toMatchObject({ corrupt: expect.stringMatching(/Avro/) });
    expect(decodePendingSend(Buffer.from([9]))).toEqual({ corrupt: 'unknown format byte 9' });
  });

  it('the channel list is the contracts enum', () => {
    expect([...CHANNELS]).toEqual((readerType('scheduled') as unknown as { getField(name: string): { getType(): { getSymbols(): string[] } } }).getField('channel').getType().getSymbols());
  });
});
