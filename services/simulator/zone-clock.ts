import { offsetMinutesAt } from '../model/time/zones.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * UTC offsets of one zone, cached per UTC day: a day whose two ends share an offset has no
 * transition inside it (zones change at most once a day), else the transition minute is found by
 * bisection. The simulator asks for millions of offsets; this asks the zone database a few
 * times per simulated day.
 */
export class ZoneClock {
  readonly timeZone: string;
  readonly #days = new Map<number, { startOffsetMs: number; transitionMs: number; endOffsetMs: number }>();

  constructor(timeZone: string) {
    this.timeZone = timeZone;
  }

  offsetMsAt(epochMs: number): number {
    const day = Math.floor(epochMs / DAY_MS);
    let entry = this.#days.get(day);
    if (!entry) {
      const startMs = day * DAY_MS;
      const startOffsetMs = this.#lookup(startMs);
      const endOffsetMs = this.#lookup(startMs + DAY_MS - MINUTE_MS);
      let transitionMs = startMs + DAY_MS;
      if (startOffsetMs !== endOffsetMs) {
        // Invariant: offset at low is the start offset, at high it is not (minute resolution).
        let low = startMs;
        let high = startMs + DAY_MS - MINUTE_MS;
        while (high - low > MINUTE_MS) {
          const mid = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
          if (this.#lookup(mid) === startOffsetMs) low = mid;
          else high = mid;
        }
        transitionMs = high;
      }
      entry = { startOffsetMs, transitionMs, endOffsetMs };
      this.#days.set(day, entry);
    }
    return epochMs < entry.transitionMs ? entry.startOffsetMs : entry.endOffsetMs;
  }

  #lookup(epochMs: number): number {
    return offsetMinutesAt(epochMs, this.timeZone) * MINUTE_MS;
  }
}

const CLOCKS = new Map<string, ZoneClock>();

/** A shared clock per zone name (offsets never change, so sharing is safe). */
export function zoneClock(timeZone: string): ZoneClock {
  let clock = CLOCKS.get(timeZone);
  if (!clock) {
    clock = new ZoneClock(timeZone);
    CLOCKS.set(timeZone, clock);
  }
  return clock;
}

/**
 * The instant a zone's clock shows the given local wall time (as epoch ms of the same reading in
 * UTC). Good for the simulator's schedules; inside a DST gap or overlap it settles on one of the
 * neighbouring instants without the engine's exact rules.
 */
export function instantOfWall(wallMs: number, timeZone: string): number {
  const clock = zoneClock(timeZone);
  const guess = wallMs - clock.offsetMsAt(wallMs);
  return wallMs - clock.offsetMsAt(guess);
}

/** The first instant at or after `fromMs` whose local time is `minuteOfDay` (same caveat as instantOfWall). */
export function nextLocalMinute(fromMs: number, minuteOfDay: number, timeZone: string): number {
  const wallMs = fromMs + zoneClock(timeZone).offsetMsAt(fromMs);
  const dayStart = Math.floor(wallMs / DAY_MS) * DAY_MS;
  for (let day = 0; day <= 2; day++) {
    const instant = instantOfWall(dayStart + day * DAY_MS + minuteOfDay * MINUTE_MS, timeZone);
    if (instant >= fromMs) return instant;
  }
  throw new RangeError(`no local minute ${minuteOfDay} after ${fromMs} in ${timeZone}`);
}
