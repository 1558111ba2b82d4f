import type { ZoneOffsets } from './time-zone.ts';

// Asking Intl for an offset costs about 10 µs; a decision needs hundreds of them over one
// window. The timeline samples the zone every few hours over a range, finds each transition to
// the millisecond, and answers lookups from that small table. It assumes a zone never changes
// its offset twice within one sampling step (real zones change at most a few times a year).

const DEFAULT_STEP_MS = 6 * 3_600_000;

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
  let low = afterMs;
  let high = atMostMs;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (zone.offsetMsAt(middle) === offsetMs) low = middle;
    else high = middle;
  }
  return high;
}
