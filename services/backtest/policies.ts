import { applyEngagement, emptyProfile, type Profile } from '../model/profile.ts';
import { DEFAULT_MODEL_PARAMS, scoreSlots, type ModelParams } from '../model/score.ts';
import { stableUnitInterval } from '../model/hash.ts';
import { DAY_MS, localSlotOfWall, type LocalSlot } from '../model/time/local-slot.ts';
import { localSeconds, type ActivityRow, type BacktestPolicy } from './evaluate.ts';

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** The local slot of a row: the log gives each row its UTC offset, so no zone is resolved. */
function slotOf(row: ActivityRow): LocalSlot {
  return localSlotOfWall(localSeconds(row) * 1_000, row.offsetMinutes * 60_000);
}

export function randomPolicy(seed = 'backtest'): BacktestPolicy {
  return {
    name: 'random',
    chooseHour: (person, day) => Math.floor(stableUnitInterval([`${seed}:${person}:${day}`]) * 24),
    observe: () => undefined,
  };
}

class HourCounts {
  readonly global = new Float64Array(24);
  readonly persons = new Map<string, Float64Array>();
  observe(person: string, rows: readonly ActivityRow[]): void {
    let counts = this.persons.get(person);
    if (!counts) {
      counts = new Float64Array(24);
      this.persons.set(person, counts);
    }
    for (const row of rows) {
      const hour = slotOf(row).localHour;
      counts[hour]!++;
      this.global[hour]!++;
    }
  }
}

export function globalHourPolicy(): BacktestPolicy {
  const counts = new HourCounts();
  return { name: 'global_hour', chooseHour: () => argmax(counts.global), observe: (person, _day, rows) => counts.observe(person, rows) };
}

export function personModePolicy(): BacktestPolicy {
  const counts = new HourCounts();
  return {
    name: 'person_mode',
    chooseHour: (person) => {
      const own = counts.persons.get(person);
      return own ? argmax(own) : argmax(counts.global);
    },
    observe: (person, _day, rows) => counts.observe(person, rows),
  };
}

/**
 * The project's model through the same functions the engine uses: activity rows become SESSION
 * engagement in the person's profile, the cohort of the same UTC offset and the population; the
 * hour is the best of the day's 24 local slots by `scoreSlots`. The backtest asks for the first
 * engagement of THAT day, so a slot's score integrates the predicted engagement over the arrival
 * window only up to the day's end (the engine's scores run on into the next day, where an
 * engagement after a late send is as good as any).
 */
export function stoPolicy(params: ModelParams = DEFAULT_MODEL_PARAMS): BacktestPolicy {
  const profiles = new Map<string, Profile>();
  const cohorts = new Map<number, Profile>();
  const global = emptyProfile();
  return {
    name: 'sto',
    chooseHour: (person, day, offsetMinutes) => {
      const profile = profiles.get(person) ?? emptyProfile();
      const atMs = (day * 86_400 - offsetMinutes * 60) * 1_000;
      const { slotMass } = scoreSlots({ profile, cohort: cohorts.get(offsetMinutes) ?? null, global, channel: 'EMAIL', objective: 'OPEN', atMs, params });
      // The hour of week of the day's local midnight.
      const base = localSlotOfWall(day * DAY_MS, offsetMinutes * 60_000).hourOfWeek;
      const scores = new Float64Array(24);
      for (let hour = 0; hour < 24; hour++) {
        for (let k = 0; k < params.arrivalWindowHours && hour + k < 24; k++) scores[hour]! += slotMass[base + hour + k]!;
      }
      return argmax(scores);
    },
    observe: (person, _day, rows) => {
      let profile = profiles.get(person);
      if (!profile) {
        profile = emptyProfile();
        profiles.set(person, profile);
      }
      for (const row of rows) {
        let cohort = cohorts.get(row.offsetMinutes);
        if (!cohort) {
          cohort = emptyProfile();
          cohorts.set(row.offsetMinutes, cohort);
        }
        const slot = slotOf(row);
        const event = { slot: slot.hourOfWeek, channel: 'EMAIL' as const, signal: 'SESSION' as const, atMs: row.utcSeconds * 1_000, localDay: slot.localDay };
        const { firstOfDay } = applyEngagement(profile, event, params);
        applyEngagement(cohort, { ...event, firstOfDay }, params);
        applyEngagement(global, { ...event, firstOfDay }, params);
      }
    },
  };
}
