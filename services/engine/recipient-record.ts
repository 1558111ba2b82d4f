import { ByteReader, ByteWriter } from '../model/byte-codec.ts';
import { encodeProfile, readProfile, writeProfile, type Profile } from '../model/profile.ts';
import { RecentEventIds } from './recent-event-ids.ts';

/**
 * A recipient's one stored value: the counters, the recent event ids used for deduplication and
 * the bookkeeping of what the recipient added to which cohort aggregate, together, so an event
 * reads one key and writes one key (and one changelog record).
 *
 * What the recipient added to the global aggregate is their whole profile (aggregates and
 * profiles get the same cells from each event). What they added to cohorts: `cohort` is the one
 * they feed now; once they fed another (their zone became known, or changed), `split` holds the
 * part each other cohort got, and the current cohort's part is the profile less those. So an
 * erasure subtracts from every cohort what went there, and a recipient who only ever fed one
 * cohort (most) stores nothing more than its name.
 */
export interface RecipientRecord {
  profile: Profile;
  recent: RecentEventIds;
  /** Zone of the cohort fed now; null = none yet, or a record written before this was kept. */
  cohort: string | null;
  /** Contribution to each other cohort fed before, by zone; null when there is none. */
  split: Map<string, Profile> | null;
}

export function newRecipientRecord(): Omit<RecipientRecord, 'profile'> {
  return { recent: RecentEventIds.empty(), cohort: null, split: null };
}

/**
 * Layout 1: 0x00, varint 1, cohort ('' = the profile's own zone), varint count of split entries
 * and each (zone, varint length, profile), varint length of the profile, the profile, then the
 * recent ids. The leading 0x00 tells it from layout 0 (varint length of the profile, the profile,
 * the recent ids; a profile is never empty, so layout 0 never starts with 0x00), which still decodes.
 */
const LAYOUT = 1;

/**
 * The profile and the record being encoded: one writer each for every call. Each event used to
 * allocate a typed array for the record (its own backing store) and copy it again into a
 * Buffer; now the bytes are copied once, into a Buffer from Node's pool (with the byte writers,
 * that allocation was 6% of the ingest's CPU time in a profile, and most of its garbage).
 */
const profileScratch = new ByteWriter(256);
const recordScratch = new ByteWriter(512);

export function encodeRecipient(record: RecipientRecord): Buffer {
  profileScratch.reset();
  writeProfile(profileScratch, record.profile);
  const profile = profileScratch.done();
  const writer = recordScratch;
  writer.reset();
  writer.varint(0);
  writer.varint(LAYOUT);
  writer.string(record.cohort === null ? '\x00' : record.cohort === record.profile.timeZone ? '' : record.cohort);
  writer.varint(record.split?.size ?? 0);
  if (record.split) {
    for (const [zone, contribution] of record.split) {
      const bytes = encodeProfile(contribution);
      writer.string(zone);
      writer.varint(bytes.length);
      writer.bytes(bytes);
    }
  }
  writer.varint(profile.length);
  writer.bytes(profile);
  record.recent.writeTo(writer);
  const written = writer.done();
  const out = Buffer.allocUnsafe(written.length);
  out.set(written);
  return out;
}

export function decodeRecipient(bytes: Buffer): RecipientRecord {
  // One reader over the whole value: the profile and the ids are read in place, not from views.
  const reader = new ByteReader(bytes);
  const first = reader.varint();
  if (first !== 0) {
    // Layout 0: the cohort bookkeeping is unknown (cohort null: erasure falls back to the profile's zone).
    const profile = readProfile(reader, first);
    return { profile, recent: RecentEventIds.read(reader), cohort: null, split: null };
  }
  const layout = reader.varint();
  if (layout !== LAYOUT) throw new RangeError(`unknown recipient record layout ${layout}`);
  const cohortCode = reader.string();
  const count = reader.varint();
  const split = count > 0 ? new Map<string, Profile>() : null;
  for (let i = 0; i < count; i++) {
    const zone = reader.string();
    split!.set(zone, readProfile(reader, reader.varint()));
  }
  const profile = readProfile(reader, reader.varint());
  const cohort = cohortCode === '\x00' ? null : cohortCode === '' ? profile.timeZone : cohortCode;
  return { profile, recent: RecentEventIds.read(reader), cohort, split };
}
