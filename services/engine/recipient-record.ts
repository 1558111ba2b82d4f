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
  const header: number[] = [];
  for (let rest = profile.length; ; rest = Math.floor(rest / 0x80)) {
    if (rest < 0x80) {
      header.push(rest);
      break;
    }
    header.push((rest % 0x80) | 0x80);
  }
  const bytes = Buffer.allocUnsafe(header.length + profile.length + recent.length);
  bytes.set(header, 0);
  bytes.set(profile, header.length);
  bytes.set(recent, header.length + profile.length);
  return bytes;
}

export function decodeRecipient(bytes: Buffer): RecipientRecord {
  let length = 0;
  let scale = 1;
  let at = 0;
  for (;;) {
    if (at >= bytes.length) throw new RangeError('recipient record truncated');
    const byte = bytes[at++]!;
    length += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 0x80;
  }
  if (at + length > bytes.length) throw new RangeError('recipient record truncated');
  return { profile: decodeProfile(bytes.subarray(at, at + length)), recent: RecentEventIds.decode(bytes.subarray(at + length)) };
}
