import { MemoryLevel } from 'memory-level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { compileDelayConfig } from '../../../services/delay/config.ts';
import { DelayHandler, type DelayPartitionState } from '../../../services/delay/delay-handler.ts';
import { DelayMetrics } from '../../../services/delay/delay-metrics.ts';
import { EngagementWatermark } from '../../../services/delay/engagement-watermark.ts';
import { pendingFrom, schedulePending, type PendingSend } from '../../../services/delay/pending-sends.ts';
import { applyEngagement, capFitAt, emptyGuard, recordRelease, stoppedBy, suppressedBy } from '../../../services/delay/recipient-guard.ts';
import { ReleaseFence } from '../../../services/delay/release-fence.ts';
import type { CampaignStop, ReceivedEngagementEvent, ScheduledSend, StopRule, UnreleasedSend } from '../../../services/shared/contracts/record-types.ts';
import type { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { readerType } from '../../../services/shared/contracts/schema-files.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import type { OutgoingRecord } from '../../../services/shared/stream/partition-handler.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';
import { plainScheduledSend } from '../../support/sample-records.ts';

const NOW = Date.UTC(2026, 11, 2, 12);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const logger = createLogger('release-guards-test', 'silent');
const TOPICS = compileDelayConfig({}).common.topics;

function event(type: ReceivedEngagementEvent['eventType'], occurredAt: number, extra: Partial<ReceivedEngagementEvent> = {}): ReceivedEngagementEvent {
  return {
    eventId: `e-${type}-${occurredAt}`,
    recipientId: 'r-1',
    channel: 'EMAIL',
    eventType: type,
    occurredAt,
    timeZone: null,
    campaignId: 'cart',
    messageId: null,
    machineOpen: null,
    userAgent: null,
    deliveredAt: null,
    correlationId: 'cart-9',
    bounceKind: null,
    attributes: {},
    ...extra,
  };
}

const rule = (eventType: StopRule['eventType'], flags: Partial<StopRule> = {}): StopRule => ({ eventType, sameCorrelation: false, sameCampaign: false, ...flags });

function scheduled(id: string, sendAt: number, extra: Partial<ScheduledSend> = {}): ScheduledSend {
  return { ...plainScheduledSend({ scheduleId: id, triggerId: `t-${id}`, recipientId: 'r-1', campaignId: 'cart' }, sendAt, id), triggeredAt: NOW - HOUR, correlationId: 'cart-9', ...extra };
}

describe('stop rules', () => {
  const send = pendingFrom(scheduled('s', NOW, { stopOn: [rule('CONVERSION', { sameCorrelation: true })] }));

  it('an event of the rule type after the decision stops the send; one before it, or of another cart, does not', () => {
    expect(stoppedBy(applyEngagement(emptyGuard(), event('CONVERSION', NOW - 2 * HOUR), NOW), send)).toBeNull();
    expect(stoppedBy(applyEngagement(emptyGuard(), event('CONVERSION', NOW - 30 * 60_000, { correlationId: 'cart-other' }), NOW), send)).toBeNull();
    expect(stoppedBy(applyEngagement(emptyGuard(), event('CLICK', NOW - 30 * 60_000), NOW), send)).toBeNull();
    expect(stoppedBy(applyEngagement(emptyGuard(), event('CONVERSION', NOW - 30 * 60_000), NOW), send)).toMatch(/stopped by CONVERSION \(correlation cart-9\)/);
  });

  it('sameCampaign narrows to the send campaign; a rule without flags takes any event of its type', () => {
    const campaignRule = pendingFrom(scheduled('s', NOW, { stopOn: [rule('CLICK', { sameCampaign: true })] }));
    const anyRule = pendingFrom(scheduled('s', NOW, { stopOn: [rule('CLICK')] }));
    const otherCampaign = applyEngagement(emptyGuard(), event('CLICK', NOW - 60_000, { campaignId: 'newsletter', correlationId: null }), NOW);
    expect(stoppedBy(otherCampaign, campaignRule)).toBeNull();
    expect(stoppedBy(otherCampaign, anyRule)).toMatch(/stopped by CLICK/);
    expect(stoppedBy(applyEngagement(emptyGuard(), event('CLICK', NOW - 60_000), NOW), campaignRule)).toMatch(/campaign cart/);
  });

  it('a sameCorrelation rule never matches a send without a correlation id, and an UNKNOWN rule stops nothing', () => {
    const guard = applyEngagement(emptyGuard(), event('CONVERSION', NOW - 60_000), NOW);
    expect(stoppedBy(guard, pendingFrom(scheduled('s', NOW, { correlationId: null, stopOn: [rule('CONVERSION', { sameCorrelation: true })] })))).toBeNull();
    expect(stoppedBy(guard, pendingFrom(scheduled('s', NOW, { stopOn: [rule('UNKNOWN')] })))).toBeNull();
  });
});

describe('suppression', () => {
  it('unsubscribe, complaint and hard bounce suppress their channel; a soft bounce does not; a later re-subscribe lifts it', () => {
    expect(suppressedBy(applyEngagement(emptyGuard(), event('UNSUBSCRIBE', NOW), NOW), 'EMAIL')).toMatch(/UNSUBSCRIBE/);
    expect(suppressedBy(applyEngagement(emptyGuard(), event('UNSUBSCRIBE', NOW), NOW), 'SMS')).toBeNull();
    expect(suppressedBy(applyEngagement(emptyGuard(), event('COMPLAINT', NOW, { channel: 'SMS' }), NOW), 'SMS')).toMatch(/COMPLAINT/);
    expect(suppressedBy(applyEngagement(emptyGuard(), event('BOUNCE', NOW, { bounceKind: 'HARD' }), NOW), 'EMAIL')).toMatch(/HARD_BOUNCE/);
    expect(suppressedBy(applyEngagement(emptyGuard(), event('BOUNCE', NOW, { bounceKind: 'SOFT' }), NOW), 'EMAIL')).toBeNull();
    const lifted = applyEngagement(applyEngagement(emptyGuard(), event('UNSUBSCRIBE', NOW), NOW), event('RESUBSCRIBE', NOW + 1), NOW);
    expect(suppressedBy(lifted, 'EMAIL')).toBeNull();
    // A re-subscribe older than the unsubscribe (arriving late) does not lift it.
    const stale = applyEngagement(applyEngagement(emptyGuard(), event('UNSUBSCRIBE', NOW), NOW), event('RESUBSCRIBE', NOW - 1), NOW);
    expect(suppressedBy(stale, 'EMAIL')).toMatch(/UNSUBSCRIBE/);
  });
});

describe('frequency caps', () => {
  it('fit now under the caps; past perDay, at the oldest release of the day plus 24 h; past perWeek, a week after', () => {
    const guard = emptyGuard();
    expect(capFitAt(guard, 'EMAIL', { perDay: 2, perWeek: null }, NOW)).toBe(NOW);
    recordRelease(guard, 'EMAIL', NOW - 10 * HOUR);
    recordRelease(guard, 'EMAIL', NOW - 2 * HOUR);
    expect(capFitAt(guard, 'EMAIL', { perDay: 2, perWeek: null }, NOW)).toBe(NOW + 14 * HOUR);
    expect(capFitAt(guard, 'EMAIL', { perDay: 3, perWeek: null }, NOW)).toBe(NOW);
    expect(capFitAt(guard, 'SMS', { perDay: 1, perWeek: null }, NOW)).toBe(NOW);
    expect(capFitAt(guard, 'EMAIL', null, NOW)).toBe(NOW);
    recordRelease(guard, 'EMAIL', NOW - 3 * DAY);
    expect(capFitAt(guard, 'EMAIL', { perDay: null, perWeek: 3 }, NOW)).toBe(NOW + 4 * DAY);
    expect(capFitAt(guard, 'EMAIL', { perDay: 0, perWeek: null }, NOW)).toBe(Number.POSITIVE_INFINITY);
  });
});

/** A codec that writes JSON (no registry): the records the handler emits are read back as JSON. */
const jsonCodec = {
  decode: async (_contract: string, bytes: Buffer) => JSON.parse(bytes.toString('utf8'), (_key, field) => (field?.type === 'Buffer' && Array.isArray(field.data) ? Buffer.from(field.data) : field)),
  encode: (_writer: unknown, value: unknown) => Buffer.from(JSON.stringify(value, (_key, field) => (field?.type === 'Buffer' ? '' : field))),
} as unknown as SchemaCodec;

async function openStore(): Promise<PartitionStore> {
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  return PartitionStore.open({ baseDir: join(tmpdir(), 'sto-release-guards'), partition: 0, factory: () => db as never });
}

/** A delay partition driven by hand: consumption and release passes on one store. */
async function partition(options: { ends?: () => number; stopWaitMs?: number; stopGraceMs?: number; campaignStops?: Map<string, CampaignStop>; fence?: ReleaseFence } = {}) {
  const metrics = new DelayMetrics(new Registry());
  let clock = NOW;
  const handler = new DelayHandler({
    config: compileDelayConfig({ STO_DELAY_STOP_GRACE_MS: String(options.stopGraceMs ?? 0), ...(options.stopWaitMs === undefined ? {} : { STO_DELAY_STOP_WAIT_MS: String(options.stopWaitMs) }) }),
    codec: jsonCodec,
    readyWriter: { contract: 'ready', schemaId: 1, type: readerType('ready') },
    unreleasedWriter: { contract: 'unreleased', schemaId: 2, type: readerType('unreleased') },
    metrics,
    logger,
    clock: () => clock,
    watermark: new EngagementWatermark({ clock: () => clock, fetchEnds: async () => new Map([[0, options.ends?.() ?? 0]]) }),
    campaignStops: options.campaignStops ?? new Map(),
    fence: options.fence ?? null,
  });
  const store = await openStore();
  const state: DelayPartitionState = await handler.onOpen(store);
  const released: string[] = [];
  const unreleased: UnreleasedSend[] = [];
  let offsets: Record<string, number> = {};
  const commit = async (tx: StateTransaction, outputs: OutgoingRecord[]) => {
    for (const { topic, message } of outputs) {
      if (topic === TOPICS.ready) released.push(String(message.headers!['sto-schedule-id']));
      else if (topic === TOPICS.unreleased) unreleased.push(JSON.parse(String(message.value)) as UnreleasedSend);
    }
    await store.commit({ puts: tx.dirty, offsets });
    tx.settle();
    handler.afterCommit(0, state);
  };
  return {
    handler,
    metrics,
    state,
    released,
    unreleased,
    setClock: (at: number) => (clock = at),
    /** Applies records of one topic as one batch (the runner's applyBatch, without its dead letters). */
    async consume(topic: string, values: unknown[]) {
      const tx = new StateTransaction(store, new CleanCache(0));
      const outputs: OutgoingRecord[] = [];
      for (const value of values) {
        const key = (value as { recipientId: string }).recipientId;
        await handler.handle(topic, { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)), offset: '0', timestamp: '0', attributes: 0, headers: {} } as never, tx, (record) => outputs.push(record), state);
      }
      offsets = { [topic]: store.nextOffset(topic) + values.length };
      await commit(tx, outputs);
      offsets = {};
    },
    release(at = clock) {
      return this.releaseWith(at, async () => undefined);
    },
    /** A release pass that runs `beforeCommit` between the handler's checks and the commit. */
    async releaseWith(at: number, beforeCommit: () => Promise<void>) {
      clock = at;
      const tx = new StateTransaction(store, new CleanCache(0));
      const outputs: OutgoingRecord[] = [];
      const result = await handler.punctuate({ tx, emit: (record) => outputs.push(record), now: at, quarantine: () => undefined }, state);
      await beforeCommit();
      if (tx.dirty.size > 0 || outputs.length > 0) await commit(tx, outputs);
      return result;
    },
  };
}

describe('the delay partition applies stops, suppression and caps at release', () => {
  it('a stop event consumed before the instant holds the send: not released, one STOPPED record, counted', async () => {
    const p = await partition({ ends: () => 1 });
    await p.consume(TOPICS.scheduled, [scheduled('stopped', NOW, { stopOn: [rule('CONVERSION', { sameCorrelation: true })] }), scheduled('other-cart', NOW, { scheduleId: 'other-cart', correlationId: 'cart-2', stopOn: [rule('CONVERSION', { sameCorrelation: true })] })]);
    await p.consume(TOPICS.engagement, [event('CONVERSION', NOW - 1)]);
    await p.release(NOW);
    expect(p.released).toEqual(['other-cart']);
    expect(p.unreleased).toHaveLength(1);
    expect(p.unreleased[0]).toMatchObject({ scheduleId: 'stopped', outcome: 'STOPPED', correlationId: 'cart-9', step: 1 });
    expect(await p.metrics.unreleased.get().then((metric) => metric.values.find((value) => value.labels.outcome === 'STOPPED')?.value)).toBe(1);
  });

  it('releases nothing while the partition has not applied the engagement records appended before the instant, then applies the stop first', async () => {
    let end = 0;
    const p = await partition({ ends: () => end });
    await p.consume(TOPICS.scheduled, [scheduled('held', NOW, { stopOn: [rule('UNSUBSCRIBE')] })]);
    // The unsubscribe is appended 1 ms before the instant but not consumed yet.
    end = 1;
    const result = await p.release(NOW);
    expect(p.released, 'released before the engagement partition caught up').toEqual([]);
    expect(result.retryAt).toBeGreaterThan(NOW);
    expect(p.state.fenced).toBe(false);
    await p.consume(TOPICS.engagement, [event('UNSUBSCRIBE', NOW - 1)]);
    await p.release(NOW + 30);
    expect(p.released).toEqual([]);
    expect(p.unreleased.map((record) => record.outcome)).toEqual(['STOPPED']);
    expect((await p.metrics.watermarkWait.get()).values.find((value) => value.metricName?.endsWith('_count'))?.value).toBe(1);
  });

  it('a send stored already due waits for the engagement records appended with it (a stop in the same batch)', async () => {
    let end = 0;
    const p = await partition({ ends: () => end });
    await p.consume(TOPICS.scheduled, [scheduled('earlier', NOW)]);
    await p.release(NOW); // an earlier pass: the watermark was fetched at NOW
    expect(p.released).toEqual(['earlier']);
    p.setClock(NOW + 5);
    end = 1; // the stop, appended with the send
    await p.consume(TOPICS.scheduled, [scheduled('late-arrival', NOW - 1_000, { stopOn: [rule('UNSUBSCRIBE')] })]);
    await p.release(NOW + 10);
    expect(p.released, 'released with the end offsets fetched before it was stored').toEqual(['earlier']);
    await p.consume(TOPICS.engagement, [event('UNSUBSCRIBE', NOW + 1)]);
    await p.release(NOW + 40);
    expect(p.unreleased.map((record) => [record.scheduleId, record.outcome])).toEqual([['late-arrival', 'STOPPED']]);
  });

  it('with a grace, a send due at T waits for end offsets fetched at T + grace (a stop still in flight at T is covered)', async () => {
    let end = 0;
    const p = await partition({ ends: () => end, stopGraceMs: 100 });
    await p.consume(TOPICS.scheduled, [scheduled('graced', NOW, { stopOn: [rule('OPEN')] })]);
    expect(await p.release(NOW + 50)).toEqual({ more: false, retryAt: NOW + 100 });
    expect(p.released).toEqual([]);
    end = 1; // the open produced at T - 1 ms, appended at T + 60 ms
    await p.release(NOW + 100);
    expect(p.released, 'released with end offsets fetched inside the grace').toEqual([]);
    await p.consume(TOPICS.engagement, [event('OPEN', NOW - 1)]);
    await p.release(NOW + 130);
    expect(p.unreleased.map((record) => [record.scheduleId, record.outcome])).toEqual([['graced', 'STOPPED']]);
  });

  it('after STO_DELAY_STOP_WAIT_MS behind, releases anyway and counts it', async () => {
    const p = await partition({ ends: () => 5, stopWaitMs: 1_000 });
    await p.consume(TOPICS.scheduled, [scheduled('late', NOW)]);
    await p.release(NOW);
    expect(p.released).toEqual([]);
    await p.release(NOW + 1_000);
    expect(p.released).toEqual(['late']);
    expect((await p.metrics.watermarkTimeouts.get()).values[0]?.value).toBe(1);
  });

  it('a suppressed recipient gets nothing on that channel (SUPPRESSED) until a re-subscribe', async () => {
    const p = await partition({ ends: () => 0 });
    await p.consume(TOPICS.engagement, [event('COMPLAINT', NOW - DAY)]);
    await p.consume(TOPICS.scheduled, [scheduled('email', NOW), scheduled('sms', NOW, { scheduleId: 'sms', channel: 'SMS' })]);
    await p.release(NOW);
    expect(p.released).toEqual(['sms']);
    expect(p.unreleased).toMatchObject([{ scheduleId: 'email', outcome: 'SUPPRESSED' }]);
    await p.consume(TOPICS.engagement, [event('RESUBSCRIBE', NOW + 1)]);
    await p.consume(TOPICS.scheduled, [scheduled('again', NOW + 2)]);
    await p.release(NOW + 2);
    expect(p.released).toEqual(['sms', 'again']);
  });

  it('caps: the send past perDay moves to when it fits (outside quiet hours), or is CAPPED when that is past its expiry', async () => {
    const p = await partition({ ends: () => 0 });
    const caps = { perDay: 1, perWeek: null };
    await p.consume(TOPICS.scheduled, [
      scheduled('first', NOW, { caps }),
      scheduled('moved', NOW + 1, { caps, expiresAt: NOW + 2 * DAY, quietHours: { startMinute: 12 * 60 + 30, endMinute: 13 * 60 } }),
      scheduled('capped', NOW + 2, { caps, expiresAt: NOW + HOUR }),
    ]);
    await p.release(NOW + 2);
    expect(p.released).toEqual(['first']);
    expect(p.unreleased).toMatchObject([{ scheduleId: 'capped', outcome: 'CAPPED' }]);
    expect(p.unreleased[0]!.detail).toMatch(/perDay 1/);
    // A day after the first release falls at 12:00 UTC... plus 30 min of quiet hours: 13:00.
    await p.release(NOW + DAY);
    expect(p.released).toEqual(['first']);
    await p.release(NOW + DAY + 30 * 60_000);
    expect(p.released).toEqual(['first']);
    await p.release(NOW + DAY + HOUR);
    expect(p.released).toEqual(['first', 'moved']);
    expect((await p.metrics.capMoves.get()).values[0]?.value).toBe(1);
  });

  it('a campaign stop in the table stops every pending send of the campaign (STOPPED, with the operator and reason)', async () => {
    const stops = new Map<string, CampaignStop>();
    const p = await partition({ ends: () => 0, campaignStops: stops });
    await p.consume(TOPICS.scheduled, [scheduled('a', NOW), scheduled('b', NOW, { scheduleId: 'b', campaignId: 'other' })]);
    stops.set('cart', { campaignId: 'cart', stoppedAt: NOW - 1, stoppedBy: 'ops', reason: 'wrong price' });
    await p.release(NOW);
    expect(p.released).toEqual(['b']);
    expect(p.unreleased[0]).toMatchObject({ scheduleId: 'a', outcome: 'STOPPED' });
    expect(p.unreleased[0]!.detail).toMatch(/campaign cart stopped by ops \(wrong price\)/);
  });

  it('cancels and erasures leave CANCELLED and ERASED records', async () => {
    const p = await partition({ ends: () => 0 });
    await p.consume(TOPICS.scheduled, [scheduled('c1', NOW + HOUR), scheduled('c2', NOW + HOUR, { scheduleId: 'c2' })]);
    await p.consume(TOPICS.scheduled, [{ ...scheduled('c1', NOW + HOUR), action: 'CANCEL' }]);
    await p.consume(TOPICS.erasure, [{ requestId: 'q', recipientId: 'r-1', requestedAt: NOW }]);
    expect(p.unreleased.map((record) => [record.scheduleId, record.outcome])).toEqual([
      ['c1', 'CANCELLED'],
      ['c2', 'ERASED'],
    ]);
  });
});

describe('the release fence', () => {
  it('a campaign stop read during a release pass is applied only after the pass commits, and the next pass sees it', async () => {
    const fence = new ReleaseFence();
    const stops = new Map<string, CampaignStop>();
    const p = await partition({ ends: () => 0, campaignStops: stops, fence });
    await p.consume(TOPICS.scheduled, [scheduled('first', NOW), scheduled('second', NOW + 10, { scheduleId: 'second' })]);
    // A pass in the middle: 'first' checked and emitted, its commit not done yet.
    let applied = false;
    let applying: Promise<void> | null = null;
    await p.releaseWith(NOW, async () => {
      applying = fence.apply(() => {
        stops.set('cart', { campaignId: 'cart', stoppedAt: NOW, stoppedBy: '', reason: '' });
        applied = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(applied, 'the stop was applied while a pass was between its checks and its commit').toBe(false);
      // A second partition of the same pass does not wait for the stop that waits for the pass.
      await fence.enter();
      fence.leave();
    });
    await applying;
    expect(applied).toBe(true);
    expect(p.released).toEqual(['first']);
    await p.release(NOW + 10);
    expect(p.released).toEqual(['first']);
    expect(p.unreleased.map((record) => [record.scheduleId, record.outcome])).toEqual([['second', 'STOPPED']]);
  });

  it('a pass that begins while a stop waits runs after the stop', async () => {
    const fence = new ReleaseFence();
    const order: string[] = [];
    await fence.enter();
    const applying = fence.apply(() => order.push('stop'));
    fence.leave();
    const next = fence.enter().then(() => {
      order.push('pass');
      fence.leave();
    });
    await Promise.all([applying, next]);
    expect(order).toEqual(['stop', 'pass']);
  });
});
