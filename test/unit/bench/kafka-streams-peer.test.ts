import { describe, expect, it } from 'vitest';
import { counterDifference, type PeerCounters } from '../../../bench/kafka-streams-peer.ts';
import { applyEngagement, emptyProfile, isRecentCell, type Profile } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS } from '../../../services/model/score.ts';

/** A profile as the engine keeps it: three active days, so its recent layer holds cells and a record. */
function engineProfile(): Profile {
  const profile = emptyProfile();
  applyEngagement(profile, { slot: 10, channel: 'EMAIL', signal: 'EXPOSURE', atMs: 1_000_000, localDay: 0 }, DEFAULT_MODEL_PARAMS);
  applyEngagement(profile, { slot: 12, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: 90_000_000, localDay: 1 }, DEFAULT_MODEL_PARAMS);
  applyEngagement(profile, { slot: 40, channel: 'EMAIL', signal: 'CLICK', atMs: 180_000_000, localDay: 2 }, DEFAULT_MODEL_PARAMS);
  applyEngagement(profile, { slot: 70, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: 270_000_000, localDay: 3 }, DEFAULT_MODEL_PARAMS);
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
    recentLogOdds: profile.recentLogOdds,
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
    expect(counterDifference(profile, { ...asPeer(profile), events: 3 })).toBe('events 4 vs 3');
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

  it("compares the recent layer's cells and its predictive record like every other field", () => {
    const profile = engineProfile();
    const recent = [...profile.cells.keys()].filter(isRecentCell);
    expect(recent.length).toBeGreaterThan(0);
    expect(profile.recentLogOdds).not.toBe(0);
    const peer = asPeer(profile);
    expect(counterDifference(profile, peer)).toBeNull();
    expect(counterDifference(profile, { ...peer, recentLogOdds: profile.recentLogOdds + 0.001 })).toMatch(/^recent log-odds/);
    const changed = asPeer(profile);
    changed.cells[String(recent[0])] = profile.cells.get(recent[0]!)! * 1.01;
    expect(counterDifference(profile, changed)).toMatch(new RegExp(`^cell ${recent[0]}:`));
    const without = asPeer(profile);
    delete without.cells[String(recent[0])];
    expect(counterDifference(profile, without)).toMatch(/cells vs/);
  });
});
