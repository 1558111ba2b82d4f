import { describe, expect, it } from 'vitest';
import {
  applyEngagement,
  cellIndex,
  decayTo,
  decodeProfile,
  emptyProfile,
  encodeProfile,
  mergeProfile,
  quantize,
  sharedDenseCells,
  type EngagementInput,
  type Profile,
} from '../../../services/model/profile.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../../../services/model/score.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 6); // a Monday, 00:00 UTC

/** A deterministic pseudo-random sequence (no Math.random in tests). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const SIGNALS = ['SESSION', 'HUMAN_OPEN', 'CLICK', 'MACHINE_OPEN', 'EXPOSURE', 'CONVERSION'] as const;
const CHANNELS = ['EMAIL', 'PUSH'] as const;

/** Events over `days` days, in time order, with a few out-of-order ones mixed in. */
function events(seed: number, days: number): EngagementInput[] {
  const next = lcg(seed);
  const out: EngagementInput[] = [];
  for (let day = 0; day < days; day++) {
    const count = Math.floor(next() * 4);
    for (let i = 0; i < count; i++) {
      const hour = 6 + Math.floor(next() * 16);
      const atMs = T0 + day * DAY + hour * HOUR + Math.floor(next() * HOUR);
      const weekday = day % 7;
      out.push({
        slot: weekday * 24 + hour,
        channel: CHANNELS[Math.floor(next() * CHANNELS.length)]!,
        signal: SIGNALS[Math.floor(next() * SIGNALS.length)]!,
        atMs,
        localDay: Math.floor((T0 + day * DAY) / DAY),
      });
    }
  }
  out.sort((a, b) => a.atMs - b.atMs);
  // Two late arrivals: older events applied after newer ones.
  if (out.length > 10) {
    const late = out.splice(3, 1)[0]!;
    out.splice(8, 0, late);
  }
  return out;
}

function build(list: readonly EngagementInput[], params: ModelParams): Profile {
  const profile = emptyProfile();
  for (const event of list) applyEngagement(profile, event, params);
  return profile;
}

const params: ModelParams = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: 30, activeDayDecay: 0.97 };

describe('profile codec', () => {
  it('round-trips losslessly: decode(encode(p)) equals p, and re-encodes to the same bytes', () => {
    for (const seed of [1, 2, 3, 4]) {
      const profile = build(events(seed, 60), params);
      profile.timeZone = 'Europe/Berlin';
      expect(profile.cells.size).toBeGreaterThan(10);
      const bytes = encodeProfile(profile);
      const decoded = decodeProfile(bytes);
      expect(decoded).toEqual(profile);
      expect(Buffer.from(encodeProfile(decoded)).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('encodes the same state to the same bytes whatever the order the cells were created in', () => {
    const a = emptyProfile();
    const b = emptyProfile();
    const cells: [number, number][] = [
      [cellIndex('EMAIL', 'SESSION', 10), quantize(3)],
      [cellIndex('PUSH', 'CLICK', 150), quantize(0.25)],
      [cellIndex('EMAIL', 'FIRST_ENGAGEMENT', 9), quantize(1.5)],
    ];
    for (const [index, value] of cells) a.cells.set(index, value);
    for (const [index, value] of [...cells].reverse()) b.cells.set(index, value);
    for (const profile of [a, b]) Object.assign(profile, { refMs: T0, firstSeenMs: T0 - DAY, events: 3, activeDays: 2, lastActiveDay: 20_000, lastEngagedSlot: 9, lastEngagedMs: T0 - HOUR });
    expect(Buffer.from(encodeProfile(a)).equals(Buffer.from(encodeProfile(b)))).toBe(true);
  });

  it('keeps times that lie after the reference time (aggregates on a day grid)', () => {
    const aggregate = emptyProfile();
    const gridParams: ModelParams = { ...params, refGranularityMs: DAY };
    applyEngagement(aggregate, { slot: 13, channel: 'EMAIL', signal: 'SESSION', atMs: T0 + 13.5 * HOUR, firstOfDay: true }, gridParams);
    expect(aggregate.refMs).toBe(T0);
    expect(aggregate.lastEngagedMs).toBe(T0 + 13.5 * HOUR);
    expect(aggregate.firstSeenMs).toBe(T0 + 13.5 * HOUR);
    expect(decodeProfile(encodeProfile(aggregate))).toEqual(aggregate);
  });

  it('stays small for a sparse recipient', () => {
    const profile = emptyProfile();
    profile.timeZone = 'America/New_York';
    for (let day = 0; day < 10; day++) {
      applyEngagement(profile, { slot: (day % 7) * 24 + 9, channel: 'EMAIL', signal: 'HUMAN_OPEN', atMs: T0 + day * DAY + 9 * HOUR, localDay: 20_000 + day }, DEFAULT_MODEL_PARAMS);
    }
    expect(encodeProfile(profile).length).toBeLessThan(200);
  });

  it('still reads version 1 bytes (no latest engagement)', () => {
    // Version 1 layout: version, refMs, refMs - firstSeenMs, events, activeDays, lastActiveDay + 1,
    // zone, cell count, then (index delta, 16-bit code) per cell.
    const varint = (value: number): number[] => {
      const out: number[] = [];
      let rest = value;
      while (rest >= 0x80) {
        out.push((rest % 0x80) | 0x80);
        rest = Math.floor(rest / 0x80);
      }
      out.push(rest);
      return out;
    };
    const code = 20 * 1024; // 2^0 = 1
    const bytes = Uint8Array.from([...varint(1), ...varint(T0), ...varint(DAY), ...varint(2), ...varint(1), ...varint(20_001), 0, ...varint(1), ...varint(57), code >> 8, code & 0xff]);
    const decoded = decodeProfile(bytes);
    expect(decoded).toEqual({
      cells: new Map([[57, 1]]),
      refMs: T0,
      timeZone: null,
      events: 2,
      firstSeenMs: T0 - DAY,
      activeDays: 1,
      lastActiveDay: 20_000,
      lastEngagedSlot: -1,
      lastEngagedMs: 0,
      recentLogOdds: 0,
    });
    expect(() => decodeProfile(Uint8Array.from([9]))).toThrow(/version/);
  });
});

describe('decay replay', () => {
  it('gives identical bytes whether events are applied in one batch or split across stored states', () => {
    for (const seed of [11, 12, 13]) {
      const list = events(seed, 90);
      const whole = encodeProfile(build(list, params));
      for (const cut of [1, Math.floor(list.length / 3), Math.floor(list.length / 2), list.length - 1]) {
        let profile = build(list.slice(0, cut), params);
        profile = decodeProfile(encodeProfile(profile)); // stored and read back, as the engine does
        for (const event of list.slice(cut)) applyEngagement(profile, event, params);
        expect(Buffer.from(encodeProfile(profile)).equals(Buffer.from(whole)), `seed ${seed} cut ${cut}`).toBe(true);
      }
    }
  });

  it('decays old evidence: a year-old habit weighs less than a fresh one of the same size', () => {
    const profile = emptyProfile();
    const yearly: ModelParams = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: 365 };
    applyEngagement(profile, { slot: 9, channel: 'EMAIL', signal: 'SESSION', atMs: T0, localDay: 1 }, yearly);
    applyEngagement(profile, { slot: 20, channel: 'EMAIL', signal: 'SESSION', atMs: T0 + 365 * DAY, localDay: 366 }, yearly);
    const old = profile.cells.get(cellIndex('EMAIL', 'SESSION', 9))!;
    const fresh = profile.cells.get(cellIndex('EMAIL', 'SESSION', 20))!;
    expect(old / fresh).toBeCloseTo(0.5, 3);
  });
});

describe('sharedDenseCells', () => {
  it('follows every change made through the module after it was first read, and only then rebuilds', () => {
    const params = { halfLifeDays: 30 };
    const profile = emptyProfile();
    // Changed before any read: nothing is kept for it yet.
    applyEngagement(profile, { slot: 5, channel: 'EMAIL', signal: 'CLICK', atMs: 1_000, localDay: 0 }, params);
    const first = sharedDenseCells(profile);
    expect(first.values[cellIndex('EMAIL', 'CLICK', 5)]).toBe(profile.cells.get(cellIndex('EMAIL', 'CLICK', 5)));
    expect(sharedDenseCells(profile)).toBe(first);
    applyEngagement(profile, { slot: 5, channel: 'EMAIL', signal: 'CLICK', atMs: 2_000, localDay: 0 }, params);
    const second = sharedDenseCells(profile);
    expect(second).not.toBe(first);
    expect(second.values[cellIndex('EMAIL', 'CLICK', 5)]).toBe(profile.cells.get(cellIndex('EMAIL', 'CLICK', 5)));
    decayTo(profile, 40 * 86_400_000, params);
    expect(sharedDenseCells(profile).values[cellIndex('EMAIL', 'CLICK', 5)]).toBe(profile.cells.get(cellIndex('EMAIL', 'CLICK', 5)));
    const other = emptyProfile();
    applyEngagement(other, { slot: 6, channel: 'PUSH', signal: 'SESSION', atMs: 40 * 86_400_000, localDay: 40 }, params);
    const before = sharedDenseCells(profile);
    mergeProfile(profile, other, 1, params);
    expect(sharedDenseCells(profile)).not.toBe(before);
    expect(sharedDenseCells(profile).values[cellIndex('PUSH', 'SESSION', 6)]).toBe(profile.cells.get(cellIndex('PUSH', 'SESSION', 6)));
  });
});
