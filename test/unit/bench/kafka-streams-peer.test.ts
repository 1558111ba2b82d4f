import { describe, expect, it } from 'vitest';
import { counterDifference, type PeerCounters } from '../../../bench/kafka-streams-peer.ts';
import { applyEngagement, emptyProfile, isRecentCell, recentCellIndex, type Profile } from '../../../services/model/profile.ts';

function engineProfile(): Profile {
  const profile = emptyProfile();
  const params = { halfLifeDays: 365 };
  applyEngagement(profile, { slot: 10, channel: 'EMAIL', signal: 'EXPOSURE', atMs: 1_000_000, localDay: 0 }, params);
  applyEngagement(profile, { slot: 12, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: 90_000_000, localDay: 1 }, params);
  profile.timeZone = 'Europe/Berlin';
  return profile;
}

function asPeer(profile: Profile): PeerCounters {
  return {
    recipientId: 'r',
    events: profile.events,
    activeDays: profile.activeDays,
    refMs: profile.refMs,
    timeZone: profile.timeZone,
    cells: Object.fromEntries([...profile.cells].map(([index, value]) => [String(index), value])),
  };
}

describe('the Kafka Streams peer comparison', () => {
  it('agrees on the same counters, and within the grid tolerance', () => {
    const profile = engineProfile();
    expect(counterDifference(profile, asPeer(profile))).toBeNull();
    const peer = asPeer(profile);
    const [index, value] = Object.entries(peer.cells)[0]!;
    peer.cells[index] = value * 1.0007;
    expect(counterDifference(profile, peer)).toBeNull();
  });

  it('names each kind of difference', () => {
    const profile = engineProfile();
    expect(counterDifference(profile, undefined)).toBe('missing in the peer');
    expect(counterDifference(null, asPeer(profile))).toBe('missing in the engine');
    expect(counterDifference(null, { ...asPeer(profile), missing: true })).toBeNull();
    expect(counterDifference(profile, { ...asPeer(profile), events: 3 })).toBe('events 2 vs 3');
    expect(counterDifference(profile, { ...asPeer(profile), activeDays: 0 })).toMatch(/^active days/);
    expect(counterDifference(profile, { ...asPeer(profile), refMs: 1 })).toMatch(/^reference time/);
    expect(counterDifference(profile, { ...asPeer(profile), timeZone: 'UTC' })).toMatch(/^zone/);
    const peer = asPeer(profile);
    const [index, value] = Object.entries(peer.cells)[0]!;
    peer.cells[index] = value * 1.01;
    expect(counterDifference(profile, peer)).toMatch(new RegExp(`^cell ${index}:`));
    const extra = asPeer(profile);
    extra.cells['999'] = 1;
    expect(counterDifference(profile, extra)).toMatch(/cells vs/);
  });

  it("leaves the engine's recent layer out (the peer keeps no such cells), and still compares every other cell", () => {
    const profile = engineProfile();
    const peer = asPeer(profile);
    profile.cells.set(recentCellIndex('EMAIL', 12), 0.5);
    expect(isRecentCell(recentCellIndex('EMAIL', 12))).toBe(true);
    expect(counterDifference(profile, peer)).toBeNull();
    const [index, value] = Object.entries(peer.cells)[0]!;
    peer.cells[index] = value * 1.01;
    expect(counterDifference(profile, peer)).toMatch(new RegExp(`^cell ${index}:`));
    delete peer.cells[index];
    expect(counterDifference(profile, peer)).toMatch(/cells vs/);
  });
});
