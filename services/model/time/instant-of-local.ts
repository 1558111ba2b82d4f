import { DAY_MS } from './local-slot.ts';
import { requireZone, type ZoneOffsets, type ZoneRef } from './time-zone.ts';

// Local wall-clock time to an instant, with DST resolved explicitly (never left to a library):
// - a reading that exists once is EXACT;
// - a reading that exists twice (fall-back overlap) is OVERLAP and takes the EARLIER instant, i.e.
//   the offset in force before the transition (01:30 on US fall-back is 01:30 EDT, -04:00);
// - a reading that never happens (spring-forward gap) is GAP and moves FORWARD to the first
//   instant after the gap, the transition itself: 02:30 on US spring-forward becomes 03:00 EDT,
//   02:15 on Lord Howe's spring-forward becomes 02:30 +11:00. (Not "shift by the gap length",
//   which would give 03:30: a slot never lands later than the first valid minute.)

export const LocalTimeKind = { EXACT: 'EXACT', OVERLAP: 'OVERLAP', GAP: 'GAP' } as const;
export type LocalTimeKind = (typeof LocalTimeKind)[keyof typeof LocalTimeKind];

export const Disambiguation = { EARLIER: 'EARLIER', LATER: 'LATER' } as const;
export type Disambiguation = (typeof Disambiguation)[keyof typeof Disambiguation];

export interface LocalDateTimeParts {
  year: number;
  /** 1..12 */
  month: number;
  /** 1..31, must exist in the month */
  day: number;
  /** 0..23 */
  hour: number;
  /** 0..59 */
  minute: number;
  second?: number;
  millisecond?: number;
}

export interface LocalTimeResolution {
  /** The chosen instant. */
  epochMs: number;
  kind: LocalTimeKind;
  /** Every instant at which the local clock shows this reading, ascending (empty for a gap). */
  instantsMs: readonly number[];
}

/** The instant of a local date-time in a zone: gap moves forward, overlap takes the earlier offset. */
export function instantOfLocal(parts: LocalDateTimeParts, zone: ZoneRef): number {
  return resolveLocalTime(parts, zone).epochMs;
}

export function resolveLocalTime(parts: LocalDateTimeParts, zone: ZoneRef, disambiguation: Disambiguation = Disambiguation.EARLIER): LocalTimeResolution {
  return resolveLocalWall(wallMsOfParts(parts), zone, disambiguation);
}

/** Checks the parts strictly (no rollover of day 31 into the next month) and returns the wall ms. */
export function wallMsOfParts(parts: LocalDateTimeParts): number {
  const { year, month, day, hour, minute } = parts;
  const second = parts.second ?? 0;
  const millisecond = parts.millisecond ?? 0;
  const fields: Array<[string, number, number, number]> = [
    ['year', year, 1, 9999],
    ['month', month, 1, 12],
    ['day', day, 1, 31],
    ['hour', hour, 0, 23],
    ['minute', minute, 0, 59],
    ['second', second, 0, 59],
    ['millisecond', millisecond, 0, 999],
  ];
  for (const [name, value, min, max] of fields) {
    if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`local ${name} ${value} is outside ${min}..${max}`);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millisecond);
  if (date.getUTCDate() !== day) throw new RangeError(`local date ${year}-${month}-${day} does not exist`);
  return date.getTime();
}

/**
 * Resolves a local wall-clock reading (as the epoch ms of the same reading in UTC) in a zone.
 * LATER exists for callers that need the second occurrence of an overlap ("the next time the
 * clock shows 01:30"); the public rule is EARLIER.
 */
export function resolveLocalWall(wallMs: number, zone: ZoneRef, disambiguation: Disambiguation = Disambiguation.EARLIER): LocalTimeResolution {
  const offsets = requireZone(zone);
  // Every solution t of t + offset(t) = wall lies within 14 h of wall; the offsets in force around
  // it are sampled at both ends and the middle (zones change offset at most once in 14 h).
  const candidateOffsets = new Set<number>();
  for (const probe of [wallMs - 15 * 3_600_000, wallMs, wallMs + 15 * 3_600_000]) {
    const offset = offsets.offsetMsAt(probe);
    candidateOffsets.add(offset);
    candidateOffsets.add(offsets.offsetMsAt(wallMs - offset));
  }
  const instants = [...new Set([...candidateOffsets].map((offset) => wallMs - offset).filter((instant) => instant + offsets.offsetMsAt(instant) === wallMs))].sort((a, b) => a - b);
  if (instants.length > 0) {
    return {
      epochMs: disambiguation === Disambiguation.EARLIER ? instants[0]! : instants[instants.length - 1]!,
      kind: instants.length > 1 ? LocalTimeKind.OVERLAP : LocalTimeKind.EXACT,
      instantsMs: instants,
    };
  }
  return { epochMs: firstInstantAfterWall(offsets, wallMs, [...candidateOffsets]), kind: LocalTimeKind.GAP, instantsMs: [] };
}

/** The first instant whose local reading is later than wallMs (the end of the gap wallMs is in). */
function firstInstantAfterWall(offsets: ZoneOffsets, wallMs: number, candidateOffsets: number[]): number {
  const largest = Math.max(...candidateOffsets);
  const smallest = Math.min(...candidateOffsets);
  let low = wallMs - largest - DAY_MS / 24;
  let high = wallMs - smallest + DAY_MS / 24;
  // Invariant: the reading at low is at or before wall, the one at high is after it.
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (middle + offsets.offsetMsAt(middle) > wallMs) high = middle;
    else low = middle;
  }
  return high;
}
