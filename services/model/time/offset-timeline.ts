// The one offset cache of the project. Asking Intl for an offset costs microseconds; ingest asks
// once per event, a decision a few hundred times over one window, the simulator millions of
// times. A timeline asks the zone database once a day of a 64-day chunk the first time the
// chunk is needed, finds each transition (to the millisecond) by bisection, and answers every
// later lookup from that small table. It assumes a zone never changes its offset twice within
// one day: real zones change a few times a year at most, weeks apart (the Ramadan suspensions of
// Morocco and Egypt are the closest pairs).

const DAY_MS = 86_400_000;
const SAMPLES_PER_CHUNK = 64;
const CHUNK_MS = SAMPLES_PER_CHUNK * DAY_MS;
const SECOND_MS = 1_000;
const QUARTER_HOUR_MS = 900_000;
/** A runaway caller (random instants over millennia) clears the table instead of growing it. */
const MAX_CHUNKS = 4_096;

/** Offset from UTC at an instant, in ms (local = utc + offset), as the zone database says it. */
export type OffsetLookup = (epochMs: number) => number;

interface Chunk {
  readonly index: number;
  /** Ascending instants at which a segment starts; the first is the chunk's start. */
  readonly startsMs: Float64Array;
  readonly offsetsMs: Float64Array;
}

export class OffsetTimeline {
  readonly #lookup: OffsetLookup;
  readonly #chunks = new Map<number, Chunk>();
  /** Lookups cluster in time (one window, one day of events): the last chunk answers most. */
  #last: Chunk | null = null;

  constructor(lookup: OffsetLookup) {
    this.#lookup = lookup;
  }

  offsetMsAt(epochMs: number): number {
    const index = Math.floor(epochMs / CHUNK_MS);
    let chunk = this.#last;
    if (chunk === null || chunk.index !== index) {
      chunk = this.#chunks.get(index) ?? this.#build(index, epochMs);
      if (chunk === null) return this.#lookup(epochMs);
      this.#last = chunk;
    }
    const starts = chunk.startsMs;
    let segment = starts.length - 1;
    while (segment > 0 && starts[segment]! > epochMs) segment -= 1;
    return chunk.offsetsMs[segment]!;
  }

  /** The chunk holding epochMs, or null where the zone database has no answer to cache. */
  #build(index: number, epochMs: number): Chunk | null {
    if (!Number.isFinite(epochMs)) return null;
    const fromMs = index * CHUNK_MS;
    const starts: number[] = [];
    const offsets: number[] = [];
    try {
      let previousMs = fromMs;
      let previousOffset = this.#lookup(fromMs);
      starts.push(fromMs);
      offsets.push(previousOffset);
      for (let sample = 1; sample <= SAMPLES_PER_CHUNK; sample += 1) {
        const sampleMs = fromMs + sample * DAY_MS;
        const offset = this.#lookup(sampleMs);
        if (offset !== previousOffset) {
          const transitionMs = firstInstantWithOtherOffset(this.#lookup, previousMs, sampleMs, previousOffset);
          // A transition exactly at the next chunk's start belongs to that chunk.
          if (transitionMs < fromMs + CHUNK_MS) {
            starts.push(transitionMs);
            offsets.push(this.#lookup(transitionMs));
          }
        }
        previousMs = sampleMs;
        previousOffset = offset;
      }
    } catch {
      // Near the ends of the representable range the database has no answer for some samples.
      return null;
    }
    const chunk: Chunk = { index, startsMs: Float64Array.from(starts), offsetsMs: Float64Array.from(offsets) };
    if (this.#chunks.size >= MAX_CHUNKS) this.#chunks.clear();
    this.#chunks.set(index, chunk);
    return chunk;
  }
}

/**
 * The first instant in (afterMs, atMostMs] whose offset differs from `offsetMs`, given that the
 * offset at afterMs is `offsetMs` and the one at atMostMs is not.
 */
export function firstInstantWithOtherOffset(offsetMsAt: OffsetLookup, afterMs: number, atMostMs: number, offsetMs: number): number {
  // Transitions fall on UTC quarter hours in practice: narrow to one quarter first, and take
  // its start when the change is exactly there; otherwise go on to the second, then the ms.
  let low = afterMs;
  let high = atMostMs;
  for (const grain of [QUARTER_HOUR_MS, SECOND_MS]) {
    while (high - low > grain) {
      const middle = Math.floor((low + high) / 2 / grain) * grain;
      if (middle <= low || middle >= high) break;
      if (offsetMsAt(middle) === offsetMs) low = middle;
      else high = middle;
    }
    if (high % grain === 0 && high - 1 > low && offsetMsAt(high - 1) === offsetMs) return high;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (offsetMsAt(middle) === offsetMs) low = middle;
    else high = middle;
  }
  return high;
}
