import { ByteReader, ByteWriter } from './byte-codec.ts';
import { HOURS_PER_WEEK } from './time/local-slot.ts';

export const CHANNELS = ['EMAIL', 'PUSH', 'SMS', 'IN_APP'] as const;
export type ModelChannel = (typeof CHANNELS)[number];
/**
 * FIRST_ENGAGEMENT is derived: a human engagement (open, click, conversion, session) that is the
 * recipient's first of its local day. STO targets it: the message should be there just before it.
 */
export const SIGNALS = ['EXPOSURE', 'HUMAN_OPEN', 'MACHINE_OPEN', 'CLICK', 'CONVERSION', 'SESSION', 'FIRST_ENGAGEMENT'] as const;
export type Signal = (typeof SIGNALS)[number];

const DAY_MS = 86_400_000;
const CELLS_PER_CHANNEL = SIGNALS.length * HOURS_PER_WEEK;
/**
 * The recent layer's cells come after every (channel, signal) row: one row of 168 slots per
 * channel at RECENT_BASE + channel * 168. Older profiles have none (their layer starts empty).
 */
const RECENT_BASE = CHANNELS.length * CELLS_PER_CHANNEL;

/** Whether a cell index belongs to the recent layer (every index from RECENT_BASE on). */
export function isRecentCell(index: number): boolean {
  return index >= RECENT_BASE;
}

/** Index of a cell of the recent layer (first engagements of the day, also decayed per active day). */
export function recentCellIndex(channel: ModelChannel, slot: number): number {
  return RECENT_BASE + CHANNELS.indexOf(channel) * HOURS_PER_WEEK + slot;
}

/** The weight of the recent layer in a recipient's first-engagement evidence (0 without the layer). */
export function recentWeight(profile: Profile, params: DecayParams): number {
  if (!((params.recentDayDecay ?? 1) < 1)) return 0;
  return 1 / (1 + Math.exp(-profile.recentLogOdds));
}

export interface DecayParams {
  halfLifeDays: number;
  /**
   * Habits drift with use as much as with time: on each new active day of the recipient every
   * counter is multiplied by this factor (1 = off). Deterministic, as it follows event order.
   */
  activeDayDecay?: number;
  /**
   * Reference-time grid (ms). Aggregates summed over many recipients use a day: the reference
   * moves (rescaling every cell) only when a new day starts, and each event is added with its
   * exact decay weight relative to the grid. Individual profiles use exact event times.
   */
  refGranularityMs?: number;
  /**
   * The recent layer (see Profile.recentLogOdds): a second copy of the recipient's first
   * engagements of the day that also decays by this factor on each new active day (1 or unset:
   * no recent layer). Only a recipient's own profile keeps it; aggregates never do.
   */
  recentDayDecay?: number;
  /** Pseudo-days of a uniform hour spread in each layer's prediction of the next first engagement. */
  recentPriorDays?: number;
  /** Each new active day multiplies the accumulated log-odds by this before adding the day's (1 = remember all). */
  recentForget?: number;
  /** Bound of |recentLogOdds|, so that a long record still yields to a change of habit. */
  recentMaxLogOdds?: number;
}

/**
 * Decayed hour-of-week counters of one recipient (or, summed, of a cohort or the population).
 * `cells` maps (channel, signal, slot) to its value decayed to `refMs`, the latest event time
 * applied. Values are kept on the codec's grid after every change, so encoding is lossless and
 * the state depends only on the events and their order, never on when it was stored.
 */
export interface Profile {
  cells: Map<number, number>;
  refMs: number;
  timeZone: string | null;
  /** Engagement events applied (any signal), not decayed. */
  events: number;
  firstSeenMs: number;
  /** Distinct local days with a human engagement. */
  activeDays: number;
  lastActiveDay: number;
  /**
   * The latest human engagement: its local hour-of-week slot (-1 = none yet) and its time (ms).
   * A person seen a moment ago is likely to be seen again soon (a session that carries on).
   */
  lastEngagedSlot: number;
  lastEngagedMs: number;
  /**
   * The recipient's own predictive record, as log-odds of the recent layer against the long one:
   * on each new active day, before it is counted, both layers predict the hour of the day's first
   * engagement and the log of their likelihood ratio is added (older days forgotten by
   * `recentForget`). Scoring mixes the two layers with the weight sigmoid(recentLogOdds), so a
   * recipient whose habits drift follows the recent layer and a steady one the long memory.
   */
  recentLogOdds: number;
}

export function emptyProfile(): Profile {
  return { cells: new Map(), refMs: 0, timeZone: null, events: 0, firstSeenMs: 0, activeDays: 0, lastActiveDay: -1, lastEngagedSlot: -1, lastEngagedMs: 0, recentLogOdds: 0 };
}

export function cellIndex(channel: ModelChannel, signal: Signal, slot: number): number {
  return CHANNELS.indexOf(channel) * CELLS_PER_CHANNEL + SIGNALS.indexOf(signal) * HOURS_PER_WEEK + slot;
}

/** What a cell index stands for; the recent layer's cells read as signal RECENT_FIRST_ENGAGEMENT. */
export function cellParts(index: number): { channel: ModelChannel; signal: Signal | 'RECENT_FIRST_ENGAGEMENT'; slot: number } {
  if (index >= RECENT_BASE) {
    const offset = index - RECENT_BASE;
    return { channel: CHANNELS[Math.floor(offset / HOURS_PER_WEEK)]!, signal: 'RECENT_FIRST_ENGAGEMENT', slot: offset % HOURS_PER_WEEK };
  }
  const channel = CHANNELS[Math.floor(index / CELLS_PER_CHANNEL)]!;
  const rest = index % CELLS_PER_CHANNEL;
  return { channel, signal: SIGNALS[Math.floor(rest / HOURS_PER_WEEK)]!, slot: rest % HOURS_PER_WEEK };
}

// Codec grid: 16-bit log2 scale over [2^-20, 2^44): relative step 0.07%. Smaller values are
// decayed away and dropped, which also prunes the state of recipients gone quiet.
const LOG_MIN = -20;
const STEPS_PER_OCTAVE = 1024;
const MAX_CODE = 65_535;

export function quantize(value: number): number {
  if (!(value > 2 ** LOG_MIN)) return 0;
  const code = Math.min(MAX_CODE, Math.round((Math.log2(value) - LOG_MIN) * STEPS_PER_OCTAVE));
  return 2 ** (code / STEPS_PER_OCTAVE + LOG_MIN);
}

function valueCode(value: number): number {
  return Math.min(MAX_CODE, Math.round((Math.log2(value) - LOG_MIN) * STEPS_PER_OCTAVE));
}

function decayFactor(fromMs: number, toMs: number, params: DecayParams): number {
  return 2 ** (-(toMs - fromMs) / (params.halfLifeDays * DAY_MS));
}

/** Moves the profile's reference time forward to `toMs`, decaying every cell. */
export function decayTo(profile: Profile, toMs: number, params: DecayParams): void {
  if (toMs <= profile.refMs) return;
  touch(profile);
  if (profile.cells.size > 0) {
    const factor = decayFactor(profile.refMs, toMs, params);
    for (const [index, value] of profile.cells) {
      const next = quantize(value * factor);
      if (next === 0) profile.cells.delete(index);
      else profile.cells.set(index, next);
    }
  }
  profile.refMs = toMs;
}

export interface EngagementInput {
  slot: number;
  channel: ModelChannel;
  signal: Signal;
  atMs: number;
  weight?: number;
  /** Local day of the event, to count active days and derive FIRST_ENGAGEMENT. */
  localDay?: number;
  /**
   * For aggregates: whether the event was its recipient's first engagement of the day (as the
   * recipient's own profile derived it). When set, it replaces the profile's own derivation.
   */
  firstOfDay?: boolean;
}

const HUMAN_ENGAGEMENT: ReadonlySet<Signal> = new Set(['HUMAN_OPEN', 'CLICK', 'CONVERSION', 'SESSION']);

/**
 * Applies one event in place. An event newer than the profile decays the profile to its time; an
 * older one (out of order) is added decayed to the profile's time. A human engagement on a new
 * local day also counts as that day's FIRST_ENGAGEMENT.
 */
export function applyEngagement(profile: Profile, event: EngagementInput, params: DecayParams): { firstOfDay: boolean } {
  if (event.slot < 0 || event.slot >= HOURS_PER_WEEK || !Number.isInteger(event.slot)) throw new RangeError(`slot ${event.slot} outside 0..167`);
  touch(profile);
  if (profile.events === 0 || event.atMs < profile.firstSeenMs) profile.firstSeenMs = event.atMs;
  const grid = params.refGranularityMs ?? 0;
  decayTo(profile, grid > 0 ? Math.floor(event.atMs / grid) * grid : event.atMs, params);
  const weight = (event.weight ?? 1) * (event.atMs !== profile.refMs ? decayFactor(event.atMs, profile.refMs, params) : 1);
  addCell(profile, cellIndex(event.channel, event.signal, event.slot), weight);
  profile.events++;
  if (HUMAN_ENGAGEMENT.has(event.signal) && (profile.lastEngagedSlot < 0 || event.atMs >= profile.lastEngagedMs)) {
    profile.lastEngagedSlot = event.slot;
    profile.lastEngagedMs = event.atMs;
  }
  let firstOfDay = event.firstOfDay ?? false;
  if (event.firstOfDay === undefined && HUMAN_ENGAGEMENT.has(event.signal) && event.localDay !== undefined && event.localDay > profile.lastActiveDay) {
    profile.lastActiveDay = event.localDay;
    profile.activeDays++;
    firstOfDay = true;
    const factor = params.activeDayDecay ?? 1;
    if (factor < 1) {
      for (const [index, value] of profile.cells) {
        const next = quantize(value * factor);
        if (next === 0) profile.cells.delete(index);
        else profile.cells.set(index, next);
      }
    }
  }
  if (firstOfDay && event.firstOfDay === undefined && (params.recentDayDecay ?? 1) < 1) updateRecentLayer(profile, event.channel, event.slot, weight, params);
  if (firstOfDay) addCell(profile, cellIndex(event.channel, 'FIRST_ENGAGEMENT', event.slot), weight);
  return { firstOfDay };
}

/**
 * A new active day of a recipient with the recent layer: both layers, as they stood before the
 * day, predict the hour of its first engagement (hour of day pooled over the week, smoothed over
 * neighbouring hours, `recentPriorDays` spread uniformly); the log of their likelihood ratio
 * joins the record. Then the recent layer decays by a day of activity and takes the engagement.
 */
/**
 * Recent-layer cells below this (a day's weight decayed by about 40 active days at 0.9) are
 * dropped: they hardly move the layer, and the layer would otherwise hold every slot of the last
 * hundred active days (about 100 bytes more per active recipient).
 */
const RECENT_FLOOR = 2 ** -6;

/** Scratch rows of updateRecentLayer (all zero between calls). */
const longRowScratch = new Float64Array(HOURS_PER_WEEK);
const recentRowScratch = new Float64Array(HOURS_PER_WEEK);

function updateRecentLayer(profile: Profile, channel: ModelChannel, slot: number, weight: number, params: DecayParams): void {
  const hour = slot % 24;
  const longBase = cellIndex(channel, 'FIRST_ENGAGEMENT', 0);
  const recentBase = recentCellIndex(channel, 0);
  const prior = params.recentPriorDays ?? 1;
  // The two rows read from one pass over the sparse cells into scratch arrays, instead of 336
  // map lookups per new active day (6% of the ingest's CPU time in a profile). The sums below run
  // in the same slot order as before, so they are bit for bit what they were.
  const longRow = longRowScratch;
  const recentRow = recentRowScratch;
  for (const [index, value] of profile.cells) {
    if (index >= longBase && index < longBase + HOURS_PER_WEEK) longRow[index - longBase] = value;
    else if (index >= recentBase && index < recentBase + HOURS_PER_WEEK) recentRow[index - recentBase] = value;
  }
  let longTotal = 0;
  let recentTotal = 0;
  let longNear = 0;
  let recentNear = 0;
  for (let day = 0; day < 7; day++) {
    for (let h = 0; h < 24; h++) {
      const at = day * 24 + h;
      const longValue = longRow[at]!;
      const recentValue = recentRow[at]!;
      longTotal += longValue;
      recentTotal += recentValue;
      const distance = Math.min((h - hour + 24) % 24, (hour - h + 24) % 24);
      const kernel = distance === 0 ? 0.5 : distance === 1 ? 0.25 : 0;
      longNear += kernel * longValue;
      recentNear += kernel * recentValue;
    }
  }
  longRow.fill(0);
  recentRow.fill(0);
  if (longTotal > 0) {
    const pLong = (longNear + prior / 24) / (longTotal + prior);
    const pRecent = (recentNear + prior / 24) / (recentTotal + prior);
    const bound = params.recentMaxLogOdds ?? 4;
    const next = (params.recentForget ?? 1) * profile.recentLogOdds + Math.log(pRecent / pLong);
    // On the codec's grid (thousandths), so a stored and reloaded profile evolves identically.
    profile.recentLogOdds = Math.round(Math.max(-bound, Math.min(bound, next)) * 1000) / 1000;
  }
  const factor = params.recentDayDecay ?? 1;
  for (const [index, value] of profile.cells) {
    if (index < RECENT_BASE) continue;
    const decayed = quantize(value * factor);
    if (decayed < RECENT_FLOOR) profile.cells.delete(index);
    else profile.cells.set(index, decayed);
  }
  addCell(profile, recentCellIndex(channel, slot), weight);
}

function addCell(profile: Profile, index: number, amount: number): void {
  const next = quantize((profile.cells.get(index) ?? 0) + amount);
  if (next === 0) profile.cells.delete(index);
  else profile.cells.set(index, next);
}

/** Adds (sign 1) or removes (sign -1) a whole profile into an aggregate (erasure, merges). */
export function mergeProfile(target: Profile, source: Profile, sign: 1 | -1, params: DecayParams): void {
  touch(target);
  const at = Math.max(target.refMs, source.refMs);
  decayTo(target, at, params);
  const factor = decayFactor(source.refMs, at, params);
  for (const [index, value] of source.cells) {
    // The recent layer is the recipient's own: aggregates never hold it.
    if (index >= RECENT_BASE) continue;
    const next = quantize(Math.max(0, (target.cells.get(index) ?? 0) + sign * value * factor));
    if (next === 0) target.cells.delete(index);
    else target.cells.set(index, next);
  }
  target.events = Math.max(0, target.events + sign * source.events);
}

/** The 168 values of one channel and signal, decayed to `atMs` (without changing the profile). */
export function slotValues(profile: Profile, channel: ModelChannel, signal: Signal, atMs: number, params: DecayParams): Float64Array {
  const values = new Float64Array(HOURS_PER_WEEK);
  const base = cellIndex(channel, signal, 0);
  const factor = atMs > profile.refMs ? decayFactor(profile.refMs, atMs, params) : 1;
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) values[slot] = (profile.cells.get(base + slot) ?? 0) * factor;
  return values;
}

/** Number of cells of a profile: channel x signal x hour-of-week slot, then the recent layer's channel x slot. */
export const CELL_COUNT = RECENT_BASE + CHANNELS.length * HOURS_PER_WEEK;

/** Offset of a channel's recent-layer row in a dense cell array. */
export function recentBase(channel: ModelChannel): number {
  return recentCellIndex(channel, 0);
}

/** The bit of a channel's recent-layer row in DenseCells.rows. */
export function recentRowBit(channel: ModelChannel): number {
  return 1 << (CHANNELS.length * SIGNALS.length + CHANNELS.indexOf(channel));
}

/** Offset of the 168 slots of one channel and signal in a dense cell array (see decayedCells). */
export function cellBase(channel: ModelChannel, signal: Signal): number {
  return cellIndex(channel, signal, 0);
}

/** The factor that decays the profile's cells from its reference time to `atMs` (1 when not later). */
export function decayFactorTo(profile: Profile, atMs: number, params: DecayParams): number {
  return atMs > profile.refMs ? decayFactor(profile.refMs, atMs, params) : 1;
}

/** A profile's cells as stored, dense, with the channel-signal rows that hold any cell. */
export interface DenseCells {
  /** Indexed like cellIndex; zero where the profile has no cell. Not decayed. */
  values: Float64Array;
  /** Bit `channel * SIGNALS.length + signal` is set when that row has a cell. */
  rows: number;
}

/**
 * Every cell as stored (not decayed), dense, written into `into`. Times decayFactorTo these are
 * the values slotValues gives, read in one pass over the sparse cells instead of a lookup per slot.
 * `previous`, the last result written into the same array, lets it clear only the rows in use.
 */
export function denseCells(profile: Profile, into: Float64Array, previous?: DenseCells): DenseCells {
  if (into.length !== CELL_COUNT) throw new RangeError(`a dense cell array has ${CELL_COUNT} entries, not ${into.length}`);
  if (previous !== undefined && previous.values === into) {
    // Reused scratch: only the rows the previous profile wrote hold anything.
    for (let row = 0, rows = previous.rows; rows !== 0; row++, rows >>>= 1) {
      if ((rows & 1) !== 0) into.fill(0, row * HOURS_PER_WEEK, (row + 1) * HOURS_PER_WEEK);
    }
  } else {
    into.fill(0);
  }
  let rows = 0;
  for (const [index, value] of profile.cells) {
    if (!(index >= 0 && index < CELL_COUNT)) continue;
    into[index] = value;
    rows |= 1 << Math.floor(index / HOURS_PER_WEEK);
  }
  return { values: into, rows };
}

/** The bit of a channel-signal row in DenseCells.rows. */
export function rowBit(channel: ModelChannel, signal: Signal): number {
  return 1 << (CHANNELS.indexOf(channel) * SIGNALS.length + SIGNALS.indexOf(signal));
}

// Mutations through this module count a revision per profile, so the dense cells of an aggregate
// (a cohort, the population), read by every decision and changed far less often, are built once
// per change. Kept beside the profile, not in it: a profile stays plain data for its codec.
const REVISIONS = new WeakMap<Profile, number>();
const DENSE = new WeakMap<Profile, { revision: number; cells: Map<number, number>; size: number; dense: DenseCells }>();

function touch(profile: Profile): void {
  // Only a profile whose dense cells are cached needs its revision: ingest changes thousands of
  // profiles a second that no decision reads, and a WeakMap entry for each cost 3% of its CPU.
  if (DENSE.has(profile)) REVISIONS.set(profile, (REVISIONS.get(profile) ?? 0) + 1);
}

/**
 * denseCells of a profile that many decisions read, cached until the profile changes through
 * this module (its cells must not be edited directly while it is in use).
 */
export function sharedDenseCells(profile: Profile): DenseCells {
  const revision = REVISIONS.get(profile) ?? 0;
  const cached = DENSE.get(profile);
  if (cached !== undefined && cached.revision === revision && cached.cells === profile.cells && cached.size === profile.cells.size) return cached.dense;
  const dense = denseCells(profile, new Float64Array(CELL_COUNT));
  DENSE.set(profile, { revision, cells: profile.cells, size: profile.cells.size, dense });
  return dense;
}

export function profileTotal(profile: Profile, signal: Signal, atMs: number, params: DecayParams): number {
  let total = 0;
  for (const channel of CHANNELS) for (const value of slotValues(profile, channel, signal, atMs, params)) total += value;
  return total;
}

// ---- codec -------------------------------------------------------------------------------

// Version 2 added the latest human engagement, version 3 the predictive record of the recent
// layer (its cells are ordinary indexes); versions 1 and 2 still decode (record 0, no layer yet).
const CODEC_VERSION = 3;

/**
 * Sparse encoding: header (version, reference time, counts, zone, latest human engagement as
 * slot + 1 and, when there is one, its distance before the reference time), then the non-zero
 * cells in index order as (varint index delta, 16-bit log-scale value).
 */
export function encodeProfile(profile: Profile): Uint8Array {
  const writer = new ByteWriter(32 + profile.cells.size * 4);
  writeProfile(writer, profile);
  return writer.done();
}

/** Cell indexes of the profile being written, sorted in place (one array for every call). */
let indexScratch = new Int32Array(64);

/** encodeProfile into a writer (e.g. one that holds the whole recipient record). */
export function writeProfile(writer: ByteWriter, profile: Profile): void {
  writer.varint(CODEC_VERSION);
  writer.varint(profile.refMs);
  writer.signed(profile.refMs - profile.firstSeenMs);
  writer.varint(profile.events);
  writer.varint(profile.activeDays);
  writer.varint(profile.lastActiveDay + 1);
  writer.string(profile.timeZone ?? '');
  writer.varint(profile.lastEngagedSlot + 1);
  if (profile.lastEngagedSlot >= 0) writer.signed(profile.refMs - profile.lastEngagedMs);
  // The log-odds in thousandths, as a signed varint: a bound of a few units keeps it to 2 bytes.
  writer.signed(Math.round(profile.recentLogOdds * 1000));
  const count = profile.cells.size;
  if (indexScratch.length < count) indexScratch = new Int32Array(Math.max(count, indexScratch.length * 2));
  let at = 0;
  for (const index of profile.cells.keys()) indexScratch[at++] = index;
  const indexes = indexScratch.subarray(0, count).sort();
  writer.varint(count);
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const index = indexes[i]!;
    writer.varint(index - previous);
    writer.uint16(valueCode(profile.cells.get(index)!));
    previous = index;
  }
}

export function decodeProfile(bytes: Uint8Array): Profile {
  return readProfile(new ByteReader(bytes), bytes.length);
}

/**
 * decodeProfile of the next `length` bytes of a reader (e.g. the one over a whole recipient
 * record), read in place rather than from a view of them.
 */
export function readProfile(reader: ByteReader, length: number): Profile {
  const end = reader.offset + length;
  if (end > reader.offset + reader.remaining) throw new RangeError('bytes truncated');
  const version = reader.varint();
  if (version !== CODEC_VERSION && version !== 1 && version !== 2) throw new RangeError(`unknown profile codec version ${version}`);
  const refMs = reader.varint();
  // Aggregates keep their reference time on a day grid, so an event may lie after it: signed.
  const firstSeenMs = refMs - (version >= 2 ? reader.signed() : reader.varint());
  const events = reader.varint();
  const activeDays = reader.varint();
  const lastActiveDay = reader.varint() - 1;
  const zone = reader.string();
  const lastEngagedSlot = version >= 2 ? reader.varint() - 1 : -1;
  const lastEngagedMs = lastEngagedSlot >= 0 ? refMs - reader.signed() : 0;
  const recentLogOdds = version >= 3 ? reader.signed() / 1000 : 0;
  const count = reader.varint();
  const cells = new Map<number, number>();
  let index = 0;
  for (let i = 0; i < count; i++) {
    index += reader.varint();
    cells.set(index, 2 ** (reader.uint16() / STEPS_PER_OCTAVE + LOG_MIN));
  }
  if (reader.offset > end) throw new RangeError('bytes truncated');
  reader.skip(end - reader.offset);
  return { cells, refMs, timeZone: zone === '' ? null : zone, events, firstSeenMs, activeDays, lastActiveDay, lastEngagedSlot, lastEngagedMs, recentLogOdds };
}
