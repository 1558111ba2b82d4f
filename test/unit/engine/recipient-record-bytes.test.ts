import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentEventIds } from '../../../services/engine/recent-event-ids.ts';
import { decodeRecipient, encodeRecipient, type RecipientRecord } from '../../../services/engine/recipient-record.ts';
import { applyEngagement, emptyProfile, encodeProfile, SIGNALS, type Profile } from '../../../services/model/profile.ts';

// The stored layouts written out plainly (one Buffer per part), as the codecs documented them
// before the encoders wrote in place: a store or changelog written by one version must read the
// same in the other, so the bytes may not change.
function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
const signed = (value: number) => varint(value >= 0 ? value * 2 : -value * 2 - 1);
const text = (value: string) => Buffer.concat([varint(Buffer.byteLength(value)), Buffer.from(value, 'utf8')]);

function referenceProfile(profile: Profile): Buffer {
  const parts = [varint(3), varint(profile.refMs), signed(profile.refMs - profile.firstSeenMs), varint(profile.events), varint(profile.activeDays), varint(profile.lastActiveDay + 1), text(profile.timeZone ?? ''), varint(profile.lastEngagedSlot + 1)];
  if (profile.lastEngagedSlot >= 0) parts.push(signed(profile.refMs - profile.lastEngagedMs));
  // Version 3: the recent layer's predictive record, log-odds in thousandths (its cells are ordinary cells).
  parts.push(signed(Math.round(profile.recentLogOdds * 1000)));
  const indexes = [...profile.cells.keys()].sort((a, b) => a - b);
  parts.push(varint(indexes.length));
  let previous = 0;
  for (const index of indexes) {
    const code = Math.min(65_535, Math.round((Math.log2(profile.cells.get(index)!) + 20) * 1024));
    parts.push(varint(index - previous), Buffer.from([code >> 8, code & 0xff]));
    previous = index;
  }
  return Buffer.concat(parts);
}

function referenceRecipient(record: RecipientRecord, recentIds: [number, number][]): Buffer {
  const profile = referenceProfile(record.profile);
  const parts = [varint(0), varint(1), text(record.cohort === null ? '\x00' : record.cohort === record.profile.timeZone ? '' : record.cohort), varint(record.split?.size ?? 0)];
  for (const [zone, part] of record.split ?? []) {
    const bytes = referenceProfile(part);
    parts.push(text(zone), varint(bytes.length), bytes);
  }
  parts.push(varint(profile.length), profile);
  for (const [hash, second] of recentIds) {
    const pair = Buffer.alloc(8);
    pair.writeUInt32BE(hash, 0);
    pair.writeUInt32BE(second, 4);
    parts.push(pair);
  }
  return Buffer.concat(parts);
}

const ZONES = ['Europe/Berlin', 'America/Argentina/Buenos_Aires', 'UTC+05:45', 'Zône/Ünïcode', 'x'.repeat(130)];
const event = fc.record({ slot: fc.integer({ min: 0, max: 167 }), channel: fc.constantFrom('EMAIL' as const, 'PUSH' as const, 'SMS' as const), signal: fc.constantFrom(...SIGNALS), minutes: fc.integer({ min: 0, max: 200_000 }) });

function profileOf(events: { slot: number; channel: 'EMAIL' | 'PUSH' | 'SMS'; signal: (typeof SIGNALS)[number]; minutes: number }[], zone: string | null): Profile {
  const profile = emptyProfile();
  const start = Date.UTC(2026, 0, 1);
  for (const item of events) applyEngagement(profile, { slot: item.slot, channel: item.channel, signal: item.signal, atMs: start + item.minutes * 60_000, localDay: Math.floor(item.minutes / 1440) }, { halfLifeDays: 30 });
  profile.timeZone = zone;
  return profile;
}

describe('recipient record bytes', () => {
  it('are the documented layout, part by part, for any counters, zones, bookkeeping and recent ids', () => {
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 80 }),
        fc.option(fc.constantFrom(...ZONES)),
        fc.option(fc.constantFrom(...ZONES)),
        fc.array(fc.tuple(fc.constantFrom(...ZONES), fc.array(event, { minLength: 1, maxLength: 5 })), { maxLength: 3 }),
        fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 20 }),
        (events, zone, cohort, splitParts, ids) => {
          const profile = profileOf(events, zone);
          expect(Buffer.from(encodeProfile(profile))).toEqual(referenceProfile(profile));
          const recent = RecentEventIds.empty();
          const start = Date.UTC(2026, 0, 1) / 1000;
          const kept: [number, number][] = [];
          ids.forEach((id, i) => {
            if (!recent.seenOrRecord(id, (start + i) * 1000, 86_400_000, 64)) kept.push([RecentEventIds.hash(id), start + i]);
          });
          const split = splitParts.length > 0 ? new Map(splitParts.map(([name, items]) => [name, profileOf(items, null)])) : null;
          const record: RecipientRecord = { profile, recent, cohort, split };
          const bytes = encodeRecipient(record);
          expect(bytes).toEqual(referenceRecipient(record, kept));
          // Encoding twice (the encoder reuses scratch memory) gives the same bytes, and they decode.
          expect(encodeRecipient(record)).toEqual(bytes);
          expect(Buffer.from(encodeProfile(decodeRecipient(bytes).profile))).toEqual(referenceProfile(profile));
        },
      ),
      { numRuns: 300 },
    );
  });
});
