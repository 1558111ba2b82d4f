import { ByteReader, ByteWriter } from '../model/byte-codec.ts';
import { decodeProfile, encodeProfile, type Profile } from '../model/profile.ts';
import { RecentEventIds } from './recent-event-ids.ts';

/**
 * A recipient's one stored value: the counters and the recent event ids used for deduplication,
 * together, so an event reads one key and writes one key (and one changelog record).
 * Layout: varint length of the encoded profile, the profile, then the recent ids.
 */
export interface RecipientRecord {
  profile: Profile;
  recent: RecentEventIds;
}

export function encodeRecipient(record: RecipientRecord): Buffer {
  const profile = encodeProfile(record.profile);
  const recent = record.recent.encode();
  const writer = new ByteWriter(profile.length + recent.length + 3);
  writer.varint(profile.length);
  writer.bytes(profile);
  writer.bytes(recent);
  return asBuffer(writer.done());
}

export function decodeRecipient(bytes: Buffer): RecipientRecord {
  const reader = new ByteReader(bytes);
  const profile = decodeProfile(reader.take(reader.varint()));
  return { profile, recent: RecentEventIds.decode(asBuffer(reader.rest())) };
}

/** A Buffer over the same memory (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
