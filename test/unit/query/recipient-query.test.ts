import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { ENGINE_KEYS } from '../../../services/engine/recipient-state.ts';
import { bestTimes, previewTrigger, QueryParameterError, RecipientQuery } from '../../../services/engine/recipient-query.ts';
import { stableUnitInterval } from '../../../services/model/hash.ts';
import { slotValues } from '../../../services/model/profile.ts';
import type { EngagementEvent } from '../../../services/shared/contracts/record-types.ts';
import { partitionOfKey } from '../../../services/shared/kafka/key-partition.ts';
import type { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { InMemoryEngine, partitionOf } from '../../../services/simulator/in-memory-engine.ts';

const PARTITIONS = 3;
const NOW = Date.UTC(2026, 2, 10, 9, 17);
const DAY = 86_400_000;
const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', null];
const TYPES: EngagementEvent['eventType'][] = ['SEND', 'OPEN', 'CLICK', 'OPEN', 'SESSION', 'CONVERSION'];

function eventsOf(recipients: number, perRecipient: number): EngagementEvent[] {
  return Array.from({ length: recipients * perRecipient }, (_, i): EngagementEvent => {
    const r = i % recipients;
    const type = TYPES[Math.floor(i / recipients) % TYPES.length]!;
    return {
      eventId: `e-${i}`,
      recipientId: `r-${r}`,
      channel: r % 3 === 2 ? 'PUSH' : 'EMAIL',
      eventType: type,
      occurredAt: NOW - Math.floor(stableUnitInterval(['t', String(i)]) * 40 * DAY),
      timeZone: ZONES[r % ZONES.length]!,
      campaignId: null,
      messageId: null,
      machineOpen: type === 'OPEN' && i % 5 === 0 ? true : null,
      userAgent: null,
      deliveredAt: null,
      attributes: {},
    };
  });
}

async function setup(config = compileEngineConfig({ STO_EXPLORATION_SHARE: '0.3', STO_HOLDOUT_SHARE: '0.2' })) {
  const engine = new InMemoryEngine(config, PARTITIONS);
  for (const event of eventsOf(24, 30)) await engine.applyEngagement(event, NOW);
  const stores = new Map((await engine.stores()).map((store) => [store.partition, store]));
  const storeOf = (id: string) => stores.get(partitionOf(id, PARTITIONS))!;
  return { config, engine, storeOf, query: new RecipientQuery(config, await engine.priors()) };
}

async function snapshot(store: PartitionStore): Promise<string[]> {
  const entries: string[] = [];
  for await (const [key, value] of store.entries({ gte: '\x00', lt: '\uffff' })) entries.push(`${key}=${value.toString('hex')}`);
  return entries;
}

describe('recipient query', () => {
  it('the partition of a key is the murmur2 one the simulator and producers use', () => {
    for (let i = 0; i < 500; i++) expect(partitionOfKey(`k-${i}`, 7)).toBe(partitionOf(`k-${i}`, 7));
  });

  it('a preview is the decision the engine makes for the same trigger and state', async () => {
    const { engine, storeOf, query } = await setup();
    const variants: Record<string, string>[] = [
      { channel: 'EMAIL' },
      { channel: 'EMAIL', windowHours: '72', quietHours: '21:00-08:30' },
      { channel: 'PUSH', windowHours: '6', quietHoursPolicy: 'DEFER_TO_END', quietHours: '00:00-23:00' },
      { channel: 'EMAIL', objective: 'CLICK', timeZone: 'Asia/Tokyo', defaultLocalTime: '10:00' },
      { channel: 'SMS', urgency: 'URGENT' },
      { channel: 'EMAIL', sendAt: String(NOW + 5 * 3_600_000) },
      { channel: 'IN_APP', holdoutShare: '0.5', triggerKind: 'journey', windowHours: '168' },
    ];
    const reasons = new Set<string>();
    let compared = 0;
    for (let r = 0; r < 24; r++) {
      for (const [v, variant] of variants.entries()) {
        const id = `r-${r}`;
        const params = new URLSearchParams({ ...variant, triggerId: `t-${r}-${v}`, campaignId: `c-${v}`, at: String(NOW + r * 977_000) });
        const trigger = previewTrigger(id, params, 0);
        const preview = await query.preview(storeOf(id), trigger);
        const expected = await engine.decide(trigger);
        expect(typeof expected).not.toBe('string');
        const { topSlots, ...decision } = preview.decision!;
        const { topSlots: expectedSlots, ...expectedDecision } = expected as Exclude<typeof expected, string>;
        expect(decision).toEqual(expectedDecision);
        expect(topSlots.map(({ localTime: _, ...slot }) => slot)).toEqual(expectedSlots);
        expect(preview.outcome).toBe(expectedDecision.urgentBypass && expectedDecision.sendAtMs <= trigger.occurredAt ? 'ready' : 'scheduled');
        expect(preview.explanation.length).toBeGreaterThan(2);
        reasons.add(decision.reason);
        compared++;
      }
    }
    expect(compared).toBe(24 * variants.length);
    // The comparison covered every path of the decision, not only the optimized one.
    expect([...reasons]).toEqual(expect.arrayContaining(['CONTROL', 'EXPLICIT_SEND_AT', 'EXPLORATION', 'OPTIMIZED', 'URGENT_BYPASS']));
  });

  it('trigger settings come from query parameters; a bad one is a QueryParameterError naming it', () => {
    const trigger = previewTrigger('x', new URLSearchParams('channel=push&windowHours=48&quietHours=22:00-07:30&defaultLocalTime=9:15&objective=click&at=1000'), 5);
    expect(trigger).toMatchObject({ channel: 'PUSH', windowHours: 48, quietHours: { startMinute: 1320, endMinute: 450 }, defaultLocalMinute: 555, objective: 'CLICK', occurredAt: 1000, recipientId: 'x' });
    expect(previewTrigger('x', new URLSearchParams('channel=EMAIL'), 5).occurredAt).toBe(5);
    for (const [query, parameter] of [
      ['', 'channel'],
      ['channel=FAX', 'channel'],
      ['channel=EMAIL&windowHours=0', 'windowHours'],
      ['channel=EMAIL&windowHours=1.5', 'windowHours'],
      ['channel=EMAIL&quietHours=22-7', 'quietHours'],
      ['channel=EMAIL&quietHours=25:00-07:00', 'quietHours'],
      ['channel=EMAIL&at=soon', 'at'],
      ['channel=EMAIL&holdoutShare=2', 'holdoutShare'],
    ] as const) {
      expect(() => previewTrigger('x', new URLSearchParams(query), 0), query).toThrow(QueryParameterError);
      expect(() => previewTrigger('x', new URLSearchParams(query), 0), query).toThrow(parameter);
    }
  });

  it('the profile shows the model’s decayed counters per channel and signal, machine opens apart, and scores from scoreSlots', async () => {
    const { config, engine, storeOf, query } = await setup();
    const id = 'r-0';
    const view = await query.profile(storeOf(id), id, NOW + DAY);
    expect(view.found).toBe(true);
    expect(view.learnedTimeZone).toBe('Europe/Berlin');
    expect(view.history.events).toBe(30);
    expect(Object.keys(view.heatmaps.EMAIL!).sort()).toEqual(expect.arrayContaining(['EXPOSURE', 'HUMAN_OPEN', 'MACHINE_OPEN', 'CLICK']));
    // The heatmap is the model's own slotValues, as 7 rows of 24.
    const { RecipientState } = await import('../../../services/engine/recipient-state.ts');
    const { CleanCache, StateTransaction } = await import('../../../services/shared/stream/state-transaction.ts');
    const state = new RecipientState(config);
    const evidence = await state.evidenceFor(id, null, new StateTransaction(storeOf(id), new CleanCache(0)), await engine.priors());
    for (const signal of ['HUMAN_OPEN', 'MACHINE_OPEN'] as const) {
      expect(view.heatmaps.EMAIL![signal]!.flat()).toEqual(Array.from(slotValues(evidence.profile, 'EMAIL', signal, NOW + DAY, state.params)));
    }
    const scores = view.scores.EMAIL!.OPEN!;
    const grid = scores.grid;
    for (const [day, best] of scores.bestHourPerWeekday.entries()) expect(best.score).toBe(Math.max(...grid[day]!));
    expect(scores.bestHourOfBestWeekday).toEqual(scores.bestHourPerWeekday.find((best) => best.weekday === scores.bestWeekday.weekday));
    expect(view.scores.PUSH).toBeUndefined();
    const unknown = await query.profile(storeOf('nobody'), 'nobody', NOW);
    expect(unknown).toMatchObject({ found: false, heatmaps: {}, scores: {}, learnedTimeZone: null });
  });

  it('bestTimes: best hour per weekday, the weekday with the most predicted engagement, its best hour', () => {
    const scores = new Float64Array(168);
    const mass = new Float64Array(168);
    scores[0 * 24 + 7] = 0.4; // Monday 07
    scores[2 * 24 + 12] = 0.9; // Wednesday 12: the best single hour
    scores[4 * 24 + 18] = 0.5; // Friday 18
    for (let h = 0; h < 24; h++) mass[4 * 24 + h] = 0.1; // Friday has the most engagement overall
    mass[2 * 24 + 12] = 0.9;
    const best = bestTimes(scores, mass);
    expect(best.bestHourPerWeekday.map((entry) => entry.hour)).toEqual([7, 0, 12, 0, 18, 0, 0]);
    expect(best.bestWeekday).toEqual({ weekday: 'Friday', predictedEngagement: expect.closeTo(2.4, 9) });
    expect(best.bestHourOfBestWeekday).toEqual({ weekday: 'Friday', hour: 18, score: 0.5 });
  });

  it('queries write nothing, not even for a corrupt stored value (the engine quarantines those, the query reports them)', async () => {
    const { storeOf, query } = await setup();
    const store = storeOf('r-1');
    await store.commit({ puts: new Map([[ENGINE_KEYS.recipient('broken'), Buffer.from('not a record')]]), offsets: {} });
    const before = await snapshot(store);
    await query.profile(store, 'r-1', NOW);
    await query.preview(store, previewTrigger('r-1', new URLSearchParams('channel=EMAIL'), NOW));
    await expect(query.profile(store, 'broken', NOW)).rejects.toThrow(/does not decode/);
    expect(await snapshot(store)).toEqual(before);
  });
});
