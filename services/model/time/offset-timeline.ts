import type { ZoneOffsets } from './time-zone.ts';

// Asking Intl for an offset costs about 10 µs; a decision needs hundreds of them over one
// window. The timeline samples the zone once a day over a range, finds each transition (to the
// second, the precision of zone data), and answers lookups from that small table. It assumes a
// zone never changes its offset twice within one sampling step: real zones change a few times a
// year at most, weeks apart (the Ramadan suspensions of Morocco and Egypt are the closest pairs).

const DEFAULT_STEP_MS = 86_400_000;
const SECOND_MS = 1_000;
const QUARTER_HOUR_MS = 900_000;

interface Segment {
  readonly startMs: number;
  readonly offsetMs: number;
}

/** Offsets of `zone` cached for [fromMs, toMs]; outside that range it asks the zone itself. */
export function cacheZoneOffsets(zone: ZoneOffsets, fromMs: number, toMs: number, stepMs = DEFAULT_STEP_MS): ZoneOffsets {
  if ('fixedOffsetMs' in zone && typeof zone.fixedOffsetMs === 'number') return zone;
  const segments: Segment[] = [{ startMs: fromMs, offsetMs: zone.offsetMsAt(fromMs) }];
  let previousMs = fromMs;
  let previousOffset = segments[0]!.offsetMs;
  while (previousMs < toMs) {
    const sampleMs = Math.min(previousMs + stepMs, toMs);
    const offset = zone.offsetMsAt(sampleMs);
    if (offset !== previousOffset) {
      const transitionMs = firstInstantWithOtherOffset(zone, previousMs, sampleMs, previousOffset);
      segments.push({ startMs: transitionMs, offsetMs: zone.offsetMsAt(transitionMs) });
    }
    previousMs = sampleMs;
    previousOffset = offset;
  }
  return Object.freeze({
    name: zone.name,
    offsetMsAt: (epochMs: number) => {
      if (epochMs < fromMs || epochMs > toMs) return zone.offsetMsAt(epochMs);
      for (let index = segments.length - 1; index >= 0; index -= 1) {
        const segment = segments[index]!;
        if (segment.startMs <= epochMs) return segment.offsetMs;
      }
      return segments[0]!.offsetMs;
    },
  });
}

/**
 * The first instant in (afterMs, atMostMs] whose offset differs from `offsetMs`, given that the
 * offset at afterMs is `offsetMs` and the one at atMostMs is not.
 */
export function firstInstantWithOtherOffset(zone: ZoneOffsets, afterMs: number, atMostMs: number, offsetMs: number): number {
  // Transitions fall on UTC quarter hours in practice: narrow to one quarter first, and take
  // its start when the change is exactly there; otherwise go on to the second, then the ms.
  let low = afterMs;
  let high = atMostMs;
  for (const grain of [QUARTER_HOUR_MS, SECOND_MS]) {
    while (high - low > grain) {
      const middle = Math.floor((low + high) / 2 / grain) * grain;
      if (middle <= low || middle >= high) break;
      if (zone.offsetMsAt(middle) === offsetMs) low = middle;
      else high = middle;
    }
    if (high % grain === 0 && high - 1 > low && zone.offsetMsAt(high - 1) === offsetMs) return high;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (zone.offsetMsAt(middle) === offsetMs) low = middle;
    else high = middle;
  }
  return high;
}
