import { SeededRandom } from './seeded-random.ts';

// Simulated recipients with a known truth: when each one checks their inbox (the habit), how
// likely a check opens a waiting message, and how likely an open becomes a click. Everything
// else (history, responses, the oracle) is derived from this, so a policy can be scored against
// what it could at best have achieved.

export const HOURS_PER_WEEK = 168;
export const DEFAULT_START_MS = Date.UTC(2025, 2, 3); // a Monday, a week before the US DST change
export const DEFAULT_ARRIVAL_WINDOW_HOURS = 2;

export const RECIPIENT_KINDS = ['regular', 'night_owl', 'newcomer', 'mpp'] as const;
export type RecipientKind = (typeof RECIPIENT_KINDS)[number];

export interface GroundTruth {
  /** A send counts as opened when a human opens it within this many hours. */
  arrivalWindowHours: number;
  /** Expected inbox checks per local hour of week (Monday 00:00 = 0): the habit. */
  checksPerHour: Float64Array;
  /** Chance that one check opens a message waiting in the inbox (opens are a thinned check process). */
  openPerCheck: number;
  /** P(a human opens within the arrival window | a send at the top of local slot s), 168 values. */
  openProbability: Float64Array;
  /** P(click | human open). */
  clickGivenOpen: number;
  /** Organic app sessions per inbox check; 0 for people who do not use the app. */
  sessionsPerCheck: number;
}

export interface SimRecipient {
  recipientId: string;
  /** IANA zone. */
  timeZone: string;
  kind: RecipientKind;
  /** The sender knows the recipient from this instant on (newcomers: a few days before the start). */
  joinedAtMs: number;
  /** Local hours of a weekday where the habit peaks, strongest first (descriptive). */
  peakHours: number[];
  truth: GroundTruth;
}

export interface PopulationOptions {
  size: number;
  seed: string | number;
  /** The simulation's "now": history lies before it, triggers after it. */
  startMs?: number;
  /** Relative shares of the kinds; defaults below. */
  kindShares?: Partial<Record<RecipientKind, number>>;
  arrivalWindowHours?: number;
}

export const DEFAULT_KIND_SHARES: Readonly<Record<RecipientKind, number>> = Object.freeze({
  regular: 0.55,
  night_owl: 0.15,
  newcomer: 0.15,
  mpp: 0.15,
});

/** Zones weighted roughly like a global sender's list: DST zones, half- and quarter-hour offsets. */
export const SIMULATED_ZONES: readonly (readonly [string, number])[] = [
  ['America/New_York', 12],
  ['America/Chicago', 6],
  ['America/Denver', 3],
  ['America/Los_Angeles', 8],
  ['America/St_Johns', 1],
  ['America/Mexico_City', 3],
  ['America/Sao_Paulo', 4],
  ['Europe/London', 8],
  ['Europe/Berlin', 8],
  ['Europe/Madrid', 4],
  ['Europe/Helsinki', 2],
  ['Africa/Lagos', 2],
  ['Asia/Dubai', 2],
  ['Asia/Tehran', 1],
  ['Asia/Kolkata', 8],
  ['Asia/Kathmandu', 1],
  ['Asia/Singapore', 3],
  ['Asia/Shanghai', 3],
  ['Asia/Tokyo', 4],
  ['Australia/Adelaide', 2],
  ['Australia/Sydney', 4],
  ['Pacific/Auckland', 2],
];

const DAY_MS = 86_400_000;

/** The recipients, deterministic from the seed; recipient i is the same whatever the size. */
export function createPopulation(options: PopulationOptions): SimRecipient[] {
  if (!(Number.isInteger(options.size) && options.size >= 0)) throw new RangeError(`size ${options.size} is not a non-negative integer`);
  const startMs = options.startMs ?? DEFAULT_START_MS;
  const shares = { ...DEFAULT_KIND_SHARES, ...options.kindShares };
  const kinds = RECIPIENT_KINDS.map((kind) => [kind, shares[kind]] as const);
  const windowHours = options.arrivalWindowHours ?? DEFAULT_ARRIVAL_WINDOW_HOURS;
  const recipients: SimRecipient[] = [];
  for (let index = 0; index < options.size; index++) {
    const rng = new SeededRandom(['population', options.seed, index]);
    const kind = rng.pick(kinds);
    const timeZone = rng.pick(SIMULATED_ZONES);
    const habit = habitOf(kind, rng);
    const openPerCheck = rng.between(0.06, 0.3);
    const truth: GroundTruth = {
      arrivalWindowHours: windowHours,
      checksPerHour: habit.checksPerHour,
      openPerCheck,
      openProbability: openProbabilities(habit.checksPerHour, openPerCheck, windowHours),
      clickGivenOpen: rng.between(0.05, 0.3),
      sessionsPerCheck: rng.chance(0.5) ? rng.between(0.05, 0.2) : 0,
    };
    recipients.push({
      recipientId: `sim-${String(index).padStart(6, '0')}`,
      timeZone,
      kind,
      joinedAtMs: kind === 'newcomer' ? startMs - Math.round(rng.between(0, 6) * DAY_MS) : startMs - 365 * DAY_MS,
      peakHours: habit.peakHours,
      truth,
    });
  }
  return recipients;
}

/** P(open within the window | send at the top of slot s) = 1 - exp(-openPerCheck * checks in the window). */
export function openProbabilities(checksPerHour: Float64Array, openPerCheck: number, windowHours: number): Float64Array {
  const out = new Float64Array(HOURS_PER_WEEK);
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    let checks = 0;
    for (let k = 0; k < windowHours; k++) checks += checksPerHour[(slot + k) % HOURS_PER_WEEK]!;
    out[slot] = 1 - Math.exp(-openPerCheck * checks);
  }
  return out;
}

interface Peak {
  hour: number;
  weight: number;
  width: number;
}

/** An individual weekly habit: a few daily peaks, shifted and scaled at the weekend. */
function habitOf(kind: RecipientKind, rng: SeededRandom): { checksPerHour: Float64Array; peakHours: number[] } {
  let peaks: Peak[];
  let wakeHour: number;
  let sleepHour: number;
  if (kind === 'night_owl') {
    peaks = [
      { hour: wrap(rng.normal(23.5, 0.8)), weight: rng.between(0.6, 0.8), width: rng.between(0.7, 1.4) },
      { hour: rng.normal(14, 1.2), weight: rng.between(0.1, 0.25), width: rng.between(0.8, 1.5) },
    ];
    wakeHour = 10;
    sleepHour = 3.5;
  } else {
    const morning = { hour: clamp(rng.normal(7.5, 1), 5.5, 10.5), weight: 0, width: rng.between(0.6, 1.3) };
    const evening = { hour: clamp(rng.normal(20.5, 1.2), 17.5, 23), weight: 0, width: rng.between(0.7, 1.5) };
    const lunch = { hour: clamp(rng.normal(12.5, 0.7), 11, 14), weight: rng.between(0.05, 0.15), width: rng.between(0.6, 1.2) };
    const morningPerson = rng.chance(0.5);
    morning.weight = morningPerson ? rng.between(0.55, 0.8) : rng.between(0.1, 0.3);
    evening.weight = morningPerson ? rng.between(0.1, 0.3) : rng.between(0.55, 0.8);
    peaks = [morning, evening, lunch];
    wakeHour = Math.min(morning.hour - 1, 7);
    sleepHour = Math.max(evening.hour + 1.5, 22.5);
  }
  const dailyChecks = rng.between(3, 10);
  // Checks spread over the waking day beside the peaks (people glance at mail between habits too).
  const awakeLevel = rng.between(0.03, 0.1);
  const weekendShift = rng.between(0.5, 2.5);
  const weekendLevel = rng.between(0.4, 1.3);
  const checksPerHour = new Float64Array(HOURS_PER_WEEK);
  for (let day = 0; day < 7; day++) {
    const weekend = day >= 5;
    const shift = weekend ? weekendShift : 0;
    const level = (weekend ? weekendLevel : 1) * rng.between(0.85, 1.15);
    const raw = new Float64Array(24);
    for (let hour = 0; hour < 24; hour++) {
      const x = hour + 0.5;
      let value = awake(x, wakeHour + shift, sleepHour + shift) ? awakeLevel : 0.004;
      for (const peak of peaks) {
        const d = circularDistance(x, peak.hour + shift);
        value += peak.weight * Math.exp(-(d * d) / (2 * peak.width * peak.width)) / peak.width;
      }
      raw[hour] = value;
    }
    const total = raw.reduce((sum, value) => sum + value, 0);
    for (let hour = 0; hour < 24; hour++) checksPerHour[day * 24 + hour] = (raw[hour]! / total) * dailyChecks * level;
  }
  const peakHours = [...peaks].sort((a, b) => b.weight - a.weight).map((peak) => Math.floor(wrap(peak.hour)));
  return { checksPerHour, peakHours };
}

function awake(hour: number, wake: number, sleep: number): boolean {
  const h = wrap(hour);
  const w = wrap(wake);
  const s = wrap(sleep);
  return w < s ? h >= w && h < s : h >= w || h < s;
}

function circularDistance(a: number, b: number): number {
  return ((((a - b) % 24) + 36) % 24) - 12;
}

function wrap(hour: number): number {
  return ((hour % 24) + 24) % 24;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
