import { IANAZone } from 'luxon';
import { OffsetTimeline } from './offset-timeline.ts';

// A recipient's zone is an IANA name ("Europe/Berlin", "Asia/Kathmandu", "Etc/GMT-5") or a fixed
// offset ("+05:45", "-03:00", "+0545", "UTC+2", "GMT-3", "UTC-03:30"). Fixed offsets are parsed here
// first: Intl accepts some of them ("+05:45") but not others ("UTC+2"), so one rule covers all.
// Note: "GMT+2" is read as the colloquial UTC+2; the POSIX-inverted form is "Etc/GMT-2" (IANA).

const MINUTE_MS = 60_000;
const MAX_FIXED_OFFSET_MINUTES = 14 * 60;
const MAX_ZONE_NAME_LENGTH = 64;
const FIXED_OFFSET = /^(?:(?:UTC|GMT)\s*)?([+-])(\d{1,2})(?::?(\d{2}))?$/i;
const UTC_NAMES = /^(?:UTC|GMT|Z)$/i;

export const ZoneKind = { IANA: 'IANA', FIXED: 'FIXED' } as const;
export type ZoneKind = (typeof ZoneKind)[keyof typeof ZoneKind];

/** Anything that can say what offset from UTC a zone has at an instant. */
export interface ZoneOffsets {
  /** The normalized zone name: the IANA name as given, or "UTC" / "UTC+05:45" for fixed offsets. */
  readonly name: string;
  /** Offset of local wall-clock time from UTC at the instant, in milliseconds (local = utc + offset). */
  offsetMsAt(epochMs: number): number;
}

export interface ResolvedZone extends ZoneOffsets {
  readonly kind: ZoneKind;
  /** The constant offset of a fixed zone, null for an IANA zone. */
  readonly fixedOffsetMs: number | null;
}

/** Where a zone is expected: a resolved zone (or cached offsets), or a name resolved on the spot. */
export type ZoneRef = string | ZoneOffsets;

export type ZoneResolution = { ok: true; zone: ResolvedZone } | { ok: false; reason: string };

// The canonical zone names of this runtime, read once: a name found here needs no further check.
// Other names (aliases such as "US/Eastern", odd casing) are checked by constructing an Intl
// formatter, which costs a few hundred microseconds.
const KNOWN_ZONES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('timeZone'));

const EXPECTED = 'expected an IANA name like "Europe/Berlin" or a fixed offset like "+05:45" or "UTC+2"';

// Every event and trigger names its zone, and resolving a name builds Intl objects: resolutions
// are memoized per input, and zones per normalized name, so each zone has one offset timeline.
const MAX_MEMOIZED = 10_000;
const RESOLUTIONS = new Map<string, ZoneResolution>();
const ZONES_BY_NAME = new Map<string, ResolvedZone>();

/** Resolves and validates a zone name; an unknown or malformed name comes back with a reason. */
export function resolveTimeZone(input: string): ZoneResolution {
  if (typeof input !== 'string') return resolveUncached(input);
  let resolution = RESOLUTIONS.get(input);
  if (resolution === undefined) {
    resolution = resolveUncached(input);
    if (resolution.ok) {
      const shared = ZONES_BY_NAME.get(resolution.zone.name);
      if (shared === undefined) {
        if (ZONES_BY_NAME.size >= MAX_MEMOIZED) ZONES_BY_NAME.clear();
        ZONES_BY_NAME.set(resolution.zone.name, resolution.zone);
      } else {
        resolution = { ok: true, zone: shared };
      }
    }
    if (RESOLUTIONS.size >= MAX_MEMOIZED) RESOLUTIONS.clear();
    RESOLUTIONS.set(input, resolution);
  }
  return resolution;
}

function resolveUncached(input: string): ZoneResolution {
  if (typeof input !== 'string' || input.trim() === '') {
    return { ok: false, reason: `time zone is empty (${EXPECTED})` };
  }
  const name = input.trim();
  if (name.length > MAX_ZONE_NAME_LENGTH) {
    return { ok: false, reason: `time zone name is longer than ${MAX_ZONE_NAME_LENGTH} characters` };
  }
  if (UTC_NAMES.test(name)) return { ok: true, zone: fixedZone(0) };
  const fixed = FIXED_OFFSET.exec(name);
  if (fixed) {
    const hours = Number(fixed[2]);
    const minutes = fixed[3] === undefined ? 0 : Number(fixed[3]);
    if (minutes > 59) return { ok: false, reason: `time zone "${name}": offset minutes must be 00..59` };
    const total = hours * 60 + minutes;
    if (total > MAX_FIXED_OFFSET_MINUTES) {
      return { ok: false, reason: `time zone "${name}": a fixed offset must lie within -14:00..+14:00` };
    }
    const offsetMs = total === 0 ? 0 : (fixed[1] === '-' ? -total : total) * MINUTE_MS;
    return { ok: true, zone: fixedZone(offsetMs) };
  }
  if (!KNOWN_ZONES.has(name) && !IANAZone.isValidZone(name)) return { ok: false, reason: `unknown time zone "${name}" (${EXPECTED})` };
  return { ok: true, zone: ianaZone(name) };
}

/** A zone ref as offsets; a name that does not resolve is a programming error here (RangeError). */
export function requireZone(ref: ZoneRef): ZoneOffsets {
  if (typeof ref !== 'string') return ref;
  const resolution = resolveTimeZone(ref);
  if (!resolution.ok) throw new RangeError(resolution.reason);
  return resolution.zone;
}

/** "+05:45", "-03:00", "+00:00"; seconds only when the offset has them (historical local mean time). */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const totalSeconds = Math.round(Math.abs(offsetMs) / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const base = `${sign}${pad2(hours)}:${pad2(minutes)}`;
  return seconds === 0 ? base : `${base}:${pad2(seconds)}`;
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

function fixedZone(offsetMs: number): ResolvedZone {
  const name = offsetMs === 0 ? 'UTC' : `UTC${formatOffset(offsetMs)}`;
  return Object.freeze({ name, kind: ZoneKind.FIXED, fixedOffsetMs: offsetMs, offsetMsAt: () => offsetMs });
}

function ianaZone(name: string): ResolvedZone {
  const zone = IANAZone.create(name);
  const timeline = new OffsetTimeline((epochMs: number) => {
    const minutes = zone.offset(epochMs);
    if (!Number.isFinite(minutes)) throw new RangeError(`no offset for ${name} at ${epochMs}`);
    return Math.round(minutes * MINUTE_MS);
  });
  return Object.freeze({ name, kind: ZoneKind.IANA, fixedOffsetMs: null, offsetMsAt: (epochMs: number) => timeline.offsetMsAt(epochMs) });
}
