import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../../services/model/byte-codec.ts';
import { applyEngagement, CELL_COUNT, cellParts, decodeProfile, emptyProfile, encodeProfile, mergeProfile, recentCellIndex, recentWeight, type Profile } from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, scoreSlots, type ModelParams } from '../../../services/model/score.ts';

// How fast a habit is forgotten differs between people (and between the two logs in data/), so
// each recipient's profile keeps a recent layer beside the long memory and weighs the two by
// their own record of predicting the hour of the day's first engagement.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 6); // a Monday; UTC is the local time here
const DAY0 = Math.floor(T0 / DAY);
const weekday = (day: number) => (((DAY0 + day + 3) % 7) + 7) % 7;
const WITHOUT_LAYER: ModelParams = { ...DEFAULT_MODEL_PARAMS, recentDayDecay: 1 };

/** One first engagement a day at `hourOf(day)`, days `from` to `to` - 1. */
function live(profile: Profile, from: number, to: number, hourOf: (day: number) => number, params: ModelParams = DEFAULT_MODEL_PARAMS): Profile {
  for (let day = from; day < to; day++) {
    const hour = hourOf(day);
    applyEngagement(profile, { slot: weekday(day) * 24 + hour, channel: 'EMAIL', signal: 'SESSION', atMs: T0 + day * DAY + hour * HOUR + 600_000, localDay: DAY0 + day }, params);
  }
  return profile;
}

/** The best hour of the day `day` (no cohort, no population). */
function bestHour(profile: Profile, day: number, params: ModelParams = DEFAULT_MODEL_PARAMS): number {
  const { slotMass } = scoreSlots({ profile, cohort: null, global: null, channel: 'EMAIL', objective: 'OPEN', atMs: T0 + day * DAY, params });
  const base = weekday(day) * 24;
  let best = 0;
  for (let hour = 1; hour < 24; hour++) if (slotMass[base + hour]! > slotMass[base + best]!) best = hour;
  return best;
}

describe('the recent layer and its predictive record', () => {
  it('follows a recipient whose habit moved, where the long memory alone still shows the old one', () => {
    const moved = (day: number) => (day < 80 ? 9 : 20);
    const profile = live(emptyProfile(), 0, 92, moved);
    expect(profile.recentLogOdds).toBeGreaterThan(0);
    expect(recentWeight(profile, DEFAULT_MODEL_PARAMS)).toBeGreaterThan(0.5);
    expect(bestHour(profile, 92)).toBe(20);
    // The same history without the layer: 80 days at 09:00 outweigh 12 at 20:00.
    expect(bestHour(live(emptyProfile(), 0, 92, moved, WITHOUT_LAYER), 92, WITHOUT_LAYER)).toBe(9);
  });

  it('leans on the long memory for a steady recipient', () => {
    // A steady 09:00 habit with an odd day at 10:00 or 14:00.
    const profile = live(emptyProfile(), 0, 90, (day) => (day % 11 === 0 ? 14 : day % 5 === 0 ? 10 : 9));
    expect(profile.recentLogOdds).toBeLessThan(0);
    expect(recentWeight(profile, DEFAULT_MODEL_PARAMS)).toBeLessThan(0.5);
    expect(bestHour(profile, 90)).toBe(9);
  });

  it('is the recipient\'s own: aggregates neither build it nor receive it from a merge', () => {
    const profile = live(emptyProfile(), 0, 30, () => 9);
    expect([...profile.cells.keys()].some((index) => index >= recentCellIndex('EMAIL', 0))).toBe(true);
    const aggregate = emptyProfile();
    for (let day = 0; day < 30; day++) {
      applyEngagement(aggregate, { slot: weekday(day) * 24 + 9, channel: 'EMAIL', signal: 'SESSION', atMs: T0 + day * DAY + 9 * HOUR, localDay: DAY0 + day, firstOfDay: true }, DEFAULT_MODEL_PARAMS);
    }
    mergeProfile(aggregate, profile, 1, DEFAULT_MODEL_PARAMS);
    expect([...aggregate.cells.keys()].every((index) => index < recentCellIndex('EMAIL', 0))).toBe(true);
    expect(aggregate.recentLogOdds).toBe(0);
    expect(Math.max(...profile.cells.keys())).toBeLessThan(CELL_COUNT);
  });

  it('evolves the same whether the profile is stored and read back between days or not', () => {
    const hourOf = (day: number) => (day < 40 ? 8 : day % 3 === 0 ? 21 : 19);
    const whole = live(emptyProfile(), 0, 70, hourOf);
    let stored = live(emptyProfile(), 0, 45, hourOf);
    stored = decodeProfile(encodeProfile(stored));
    stored = live(stored, 45, 70, hourOf);
    expect(whole.recentLogOdds).not.toBe(0);
    expect(encodeProfile(stored)).toEqual(encodeProfile(whole));
    expect(decodeProfile(encodeProfile(whole)).recentLogOdds).toBe(whole.recentLogOdds);
  });

  it('names its cells for the state dump', () => {
    expect(cellParts(recentCellIndex('PUSH', 33))).toEqual({ channel: 'PUSH', signal: 'RECENT_FIRST_ENGAGEMENT', slot: 33 });
    expect(cellParts(recentCellIndex('EMAIL', 0) - 1)).toEqual({ channel: 'IN_APP', signal: 'FIRST_ENGAGEMENT', slot: 167 });
  });

  it('reads version 2 profiles, stored before the layer, with an empty record', () => {
    // Version 2 layout: version, refMs, signed(refMs - firstSeenMs), events, activeDays,
    // lastActiveDay + 1, zone, lastEngagedSlot + 1 (then signed(refMs - lastEngagedMs)), cell count, cells.
    const writer = new ByteWriter(64);
    writer.varint(2);
    writer.varint(T0);
    writer.signed(DAY);
    writer.varint(3);
    writer.varint(2);
    writer.varint(DAY0 + 1);
    writer.string('Europe/Paris');
    writer.varint(10);
    writer.signed(HOUR);
    writer.varint(1);
    writer.varint(57);
    writer.uint16(20 * 1024); // 2^0 = 1
    const decoded = decodeProfile(writer.done());
    expect(decoded).toEqual({
      cells: new Map([[57, 1]]),
      refMs: T0,
      timeZone: 'Europe/Paris',
      events: 3,
      firstSeenMs: T0 - DAY,
      activeDays: 2,
      lastActiveDay: DAY0,
      lastEngagedSlot: 9,
      lastEngagedMs: T0 - HOUR,
      recentLogOdds: 0,
    });
    // Its next active day starts the record.
    live(decoded, 1, 2, () => 9);
    expect(encodeProfile(decoded)[0]).toBe(3);
  });
});
