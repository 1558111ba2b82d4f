import { describe, expect, it } from 'vitest';
import { RecentEventIds } from '../../../services/engine/recent-event-ids.ts';
import { decodeRecipient, encodeRecipient } from '../../../services/engine/recipient-record.ts';
import { applyEngagement, emptyProfile, encodeProfile } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS } from '../../../services/model/score.ts';

describe('recipient record (counters and recent event ids in one value)', () => {
  it('round-trips the profile and the recent ids, which still deduplicate after decoding', () => {
    const profile = emptyProfile();
    const recent = RecentEventIds.empty();
    const at = Date.UTC(2026, 10, 2, 9);
    for (let i = 0; i < 200; i++) {
      // Enough cells that the profile's length needs a two-byte varint.
      applyEngagement(profile, { slot: i % 168, channel: i % 2 ? 'EMAIL' : 'PUSH', signal: 'HUMAN_OPEN', atMs: at + i * 60_000, localDay: 1 }, DEFAULT_MODEL_PARAMS);
      expect(recent.seenOrRecord(`event-${i}`, at + i * 60_000, 86_400_000, 16)).toBe(false);
    }
    profile.timeZone = 'Europe/Berlin';
    expect(encodeProfile(profile).length).toBeGreaterThan(127);
    const decoded = decodeRecipient(encodeRecipient({ profile, recent, cohort: 'Europe/Berlin', split: null }));
    expect(encodeProfile(decoded.profile)).toEqual(encodeProfile(profile));
    expect(decoded.recent.size).toBe(16);
    expect(decoded.recent.seenOrRecord('event-199', at + 199 * 60_000, 86_400_000, 16)).toBe(true);
    expect(decoded.recent.seenOrRecord('event-0', at, 86_400_000, 16)).toBe(false); // beyond the 16 kept
  });

  it('round-trips the cohort bookkeeping, and still reads records written before it (layout 0)', () => {
    const profile = emptyProfile();
    applyEngagement(profile, { slot: 9, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: Date.UTC(2026, 10, 2, 9), localDay: 1 }, DEFAULT_MODEL_PARAMS);
    profile.timeZone = 'Europe/Paris';
    const split = new Map([['UTC', emptyProfile()], ['Europe/Paris', profile]]);
    const decoded = decodeRecipient(encodeRecipient({ profile, recent: RecentEventIds.empty(), cohort: null, split }));
    expect(decoded.cohort).toBeNull();
    expect([...decoded.split!.keys()]).toEqual(['UTC', 'Europe/Paris']);
    expect(encodeProfile(decoded.split!.get('Europe/Paris')!)).toEqual(encodeProfile(profile));
    expect(decodeRecipient(encodeRecipient({ profile, recent: RecentEventIds.empty(), cohort: 'Europe/Paris', split: null })).cohort).toBe('Europe/Paris');
    expect(decodeRecipient(encodeRecipient({ profile, recent: RecentEventIds.empty(), cohort: 'UTC', split: null })).cohort).toBe('UTC');
    // Layout 0: varint length of the profile, the profile, the recent ids.
    const encoded = encodeProfile(profile);
    const legacy = Buffer.concat([Buffer.from([encoded.length]), encoded, RecentEventIds.empty().encode()]);
    const old = decodeRecipient(legacy);
    expect(encodeProfile(old.profile)).toEqual(encoded);
    expect(old).toMatchObject({ cohort: null, split: null });
  });

  it('refuses truncated bytes instead of reading garbage', () => {
    const bytes = encodeRecipient({ profile: emptyProfile(), recent: RecentEventIds.empty(), cohort: null, split: null });
    expect(() => decodeRecipient(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError);
    expect(() => decodeRecipient(Buffer.alloc(0))).toThrow(RangeError);
  });

  it('hashes event ids deterministically and spreads them', () => {
    expect(RecentEventIds.hash('e-1')).toBe(RecentEventIds.hash('e-1'));
    const hashes = new Set(Array.from({ length: 100_000 }, (_, i) => RecentEventIds.hash(`e-${i}`)));
    expect(hashes.size).toBeGreaterThan(99_990);
  });
});
