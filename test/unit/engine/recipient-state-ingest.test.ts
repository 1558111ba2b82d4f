import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { RecentEventIds } from '../../../services/engine/recent-event-ids.ts';
import { decodeRecipient } from '../../../services/engine/recipient-record.ts';
import { ENGINE_KEYS, RecipientState } from '../../../services/engine/recipient-state.ts';
import type { EngagementEvent } from '../../../services/shared/contracts/record-types.ts';
import { ByteReader, ByteWriter } from '../../../services/model/byte-codec.ts';
import { applyEngagement, emptyProfile, encodeProfile } from '../../../services/model/profile.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 2, 8);
/** The records' own timestamp: after every event (the engine judges event time against it). */
const STAMP = T0 + 45 * 24 * HOUR;

function event(i: number, eventType: EngagementEvent['eventType'] = 'OPEN'): EngagementEvent {
  return {
    eventId: `alice-${i}`, recipientId: 'alice', channel: 'EMAIL', eventType, occurredAt: T0 + i * 26 * HOUR, timeZone: 'Europe/Paris',
    campaignId: null, messageId: null, machineOpen: false, userAgent: null, deliveredAt: null, attributes: {},
  };
}

async function openState(): Promise<{ state: RecipientState; store: PartitionStore; cache: CleanCache }> {
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-recipient-state-ingest'), partition: 0, factory: () => db as never });
  const state = new RecipientState(compileEngineConfig({}));
  await state.open(store);
  return { state, store, cache: new CleanCache(1_000) };
}

async function commit(state: RecipientState, store: PartitionStore, tx: StateTransaction): Promise<void> {
  state.flush(tx);
  await store.commit({ puts: tx.dirty, offsets: {} });
  tx.settle();
  state.committed(store.partition);
}

describe('the recipient state on the ingest path', () => {
  it('an event of a batch that did not commit leaves nothing behind for its retry (the record is read from the cache or the store, never reused)', async () => {
    const { state, store, cache } = await openState();
    const first = new StateTransaction(store, cache);
    expect((await state.applyEngagement(event(0), STAMP, first)).outcome).toBe('applied');
    await commit(state, store, first);

    // Applied, then the batch fails before its commit: its writes are dropped. Its own second
    // read of the recipient sees its write (a duplicate), not the cached committed value.
    const failed = new StateTransaction(store, cache);
    expect((await state.applyEngagement(event(1), STAMP, failed)).outcome).toBe('applied');
    expect((await state.applyEngagement(event(1), STAMP, failed)).outcome).toBe('duplicate');
    state.forget(store.partition);

    // The retry sees the committed record: the event is new to it, and counted once.
    const retry = new StateTransaction(store, cache);
    expect((await state.applyEngagement(event(1), STAMP, retry)).outcome).toBe('applied');
    await commit(state, store, retry);
    const stored = decodeRecipient((await store.get(ENGINE_KEYS.recipient('alice')))!);
    expect(stored.profile.events).toBe(2);
    expect(stored.recent.size).toBe(2);
  });

  it("gives the same stored record whether the recipient's value is read from the cache or from the store at each event", async () => {
    const kept = await openState();
    const cold = await openState();
    for (let i = 0; i < 40; i++) {
      const type = i % 4 === 0 ? 'SEND' : i % 4 === 1 ? 'OPEN' : i % 4 === 2 ? 'CLICK' : 'SESSION';
      const txKept = new StateTransaction(kept.store, kept.cache);
      await kept.state.applyEngagement(event(i, type), STAMP, txKept);
      if (i % 7 === 3) await kept.state.applyEngagement(event(i, type), STAMP, txKept); // a duplicate in the same batch
      await commit(kept.state, kept.store, txKept);
      // A fresh state and no cache each time: every event reads the store (the awaited path).
      const state = new RecipientState(compileEngineConfig({}));
      await state.open(cold.store);
      const txCold = new StateTransaction(cold.store, new CleanCache(0));
      await state.applyEngagement(event(i, type), STAMP, txCold);
      if (i % 7 === 3) await state.applyEngagement(event(i, type), STAMP, txCold);
      await commit(state, cold.store, txCold);
    }
    const key = ENGINE_KEYS.recipient('alice');
    expect((await kept.store.get(key))!.equals((await cold.store.get(key))!)).toBe(true);
  });
});

describe('RecentEventIds.seenOrRecord', () => {
  it('keeps what filtering by the window and then keeping the newest maxIds keeps, in any sequence', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 30 }), second: fc.integer({ min: 0, max: 500 }) }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 12 }),
        (events, windowSeconds, maxIds) => {
          const recent = RecentEventIds.empty();
          let model: { hash: number; second: number }[] = [];
          for (const { id, second } of events) {
            const eventId = `e-${id}`;
            const hash = RecentEventIds.hash(eventId);
            const horizon = second - windowSeconds;
            const seen = model.some((entry) => entry.hash === hash && entry.second >= horizon);
            if (!seen) model = [...model, { hash, second }].filter((entry) => entry.second >= horizon).slice(-maxIds);
            expect(recent.seenOrRecord(eventId, second * 1000, windowSeconds * 1000, maxIds)).toBe(seen);
            const expected = Buffer.alloc(model.length * 8);
            model.forEach((entry, index) => {
              expected.writeUInt32BE(entry.hash, index * 8);
              expected.writeUInt32BE(entry.second, index * 8 + 4);
            });
            expect(recent.encode().equals(expected)).toBe(true);
          }
        },
      ),
    );
  });
});

describe('reading a recipient record in place', () => {
  it('reads ASCII, non-ASCII and long strings as written, and stops at a truncated one', () => {
    const texts = ['', 'Europe/Paris', 'Amérique/Montréal', 'x'.repeat(64), 'y'.repeat(65), `${'z'.repeat(63)}é`];
    const writer = new ByteWriter(16);
    for (const text of texts) writer.string(text);
    const reader = new ByteReader(Buffer.from(writer.done()));
    for (const text of texts) expect(reader.string()).toBe(text);
    expect(reader.remaining).toBe(0);
    const truncated = new ByteReader(Buffer.from([5, 0x41, 0x42]));
    expect(() => truncated.string()).toThrow(RangeError);
  });

  it('reads the fields after a profile from where its stated length ends, as reading a slice of it did', () => {
    const profile = emptyProfile();
    applyEngagement(profile, { slot: 10, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: T0, localDay: 20_000 }, { halfLifeDays: 30 });
    const encoded = encodeProfile(profile);
    const recent = RecentEventIds.empty();
    recent.seenOrRecord('e-1', T0, 86_400_000, 16);
    // Layout 0 with two bytes of padding inside the profile's stated length, then the ids.
    const value = Buffer.concat([Buffer.from([encoded.length + 2]), encoded, Buffer.from([0, 0]), recent.encode()]);
    const decoded = decodeRecipient(value);
    expect(decoded.profile.cells).toEqual(profile.cells);
    expect(decoded.recent.encode().equals(recent.encode())).toBe(true);
    // A stated length shorter than the profile is an error, not a read into the ids.
    const short = Buffer.concat([Buffer.from([encoded.length - 1]), encoded, recent.encode()]);
    expect(() => decodeRecipient(short)).toThrow(RangeError);
  });
});
