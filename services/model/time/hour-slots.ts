import { firstInstantWithOtherOffset } from './offset-timeline.ts';
import { HOUR_MS, localSlotOfWall, type LocalSlot } from './local-slot.ts';
import { requireZone, type ZoneRef } from './time-zone.ts';

/** A top-of-hour instant (local clock at HH:00:00.000) with its local slot. */
export interface HourSlot extends LocalSlot {
  epochMs: number;
}

const MAX_STEPS = 100_000;

/**
 * Every instant in [fromMs, toMs] at which the local clock of `zone` shows HH:00, ascending.
 *
 * Walks instants, not local readings, so DST comes out right by construction: a local hour that
 * does not exist (02:00 on US spring-forward) is not a slot; one that happens twice (01:00 on US
 * fall-back) gives two slots with the same hourOfWeek, an hour apart; a 23 h day has 23 slots, a
 * 25 h day 25; Lord Howe's 30-minute shifts and Kathmandu's +05:45 put the slots at the right
 * UTC minutes.
 */
export function topOfHourSlots(fromMs: number, toMs: number, zone: ZoneRef): HourSlot[] {
  const slots: HourSlot[] = [];
  forEachTopOfHour(fromMs, toMs, zone, (epochMs, wallMs, offsetMs) => {
    // The local slot object itself becomes the hour slot (a spread into a new object costs more).
    const slot = localSlotOfWall(wallMs, offsetMs) as LocalSlot & { epochMs: number };
    slot.epochMs = epochMs;
    slots.push(slot);
  });
  return slots;
}

/**
 * The instants of topOfHourSlots, ascending, each with its local wall-clock reading (as the epoch
 * ms of the same reading in UTC) and offset, without building a slot object per hour: a decision
 * walks a window of 24 to 168 hours for every trigger and keeps only a few fields of each.
 */
export function forEachTopOfHour(fromMs: number, toMs: number, zone: ZoneRef, visit: (epochMs: number, wallMs: number, offsetMs: number) => void): void {
  const offsets = requireZone(zone);
  let cursor = Math.ceil(fromMs);
  for (let step = 0; cursor <= toMs; step += 1) {
    if (step > MAX_STEPS) throw new RangeError(`too many hour slots between ${fromMs} and ${toMs}`);
    const offsetMs = offsets.offsetMsAt(cursor);
    const wallMs = cursor + offsetMs;
    const nextTopWallMs = Math.ceil(wallMs / HOUR_MS) * HOUR_MS;
    const candidateMs = cursor + (nextTopWallMs - wallMs);
    const probeMs = Math.min(candidateMs, toMs);
    if (offsets.offsetMsAt(probeMs) !== offsetMs) {
      // The offset changes before the next top of the hour: continue from the transition, whose
      // own reading may be a top of the hour (03:00 right after the US spring-forward).
      cursor = firstInstantWithOtherOffset((epochMs) => offsets.offsetMsAt(epochMs), cursor, probeMs, offsetMs);
      continue;
    }
    if (candidateMs > toMs) break;
    visit(candidateMs, nextTopWallMs, offsetMs);
    cursor = candidateMs + 1;
  }
}
