import type { ByteWriter } from '../model/byte-codec.ts';

/**
 * The recent event ids of one recipient, for deduplication: (32-bit id hash, event second) pairs,
 * newest last, bounded in count and age. Kept next to the recipient's counters, so it moves with
 * the partition through the changelog. A 32-bit hash per recipient makes a false duplicate
 * roughly a 1-in-4-billion event per pair compared.
 */
export class RecentEventIds {
  readonly #entries: { hash: number; second: number }[];

  private constructor(entries: { hash: number; second: number }[]) {
    this.#entries = entries;
  }

  static empty(): RecentEventIds {
    return new RecentEventIds([]);
  }

  static decode(bytes: Buffer | undefined): RecentEventIds {
    const entries: { hash: number; second: number }[] = [];
    if (bytes) for (let at = 0; at + 8 <= bytes.length; at += 8) entries.push({ hash: bytes.readUInt32BE(at), second: bytes.readUInt32BE(at + 4) });
    return new RecentEventIds(entries);
  }

  /** FNV-1a over the id's UTF-16 code units: no cryptographic strength needed, and 20x cheaper than SHA-1. */
  static hash(eventId: string): number {
    let hash = 0x811c9dc5;
    for (let i = 0; i < eventId.length; i++) {
      hash ^= eventId.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    return hash >>> 0;
  }

  /** True when the id was seen inside the window; otherwise records it. */
  seenOrRecord(eventId: string, atMs: number, windowMs: number, maxIds: number): boolean {
    if (maxIds === 0 || windowMs === 0) return false;
    const hash = RecentEventIds.hash(eventId);
    const second = Math.max(0, Math.floor(atMs / 1000));
    const horizon = second - Math.floor(windowMs / 1000);
    if (this.#entries.some((entry) => entry.hash === hash && entry.second >= horizon)) return true;
    this.#entries.push({ hash, second });
    const kept = this.#entries.filter((entry) => entry.second >= horizon).slice(-maxIds);
    this.#entries.splice(0, this.#entries.length, ...kept);
    return false;
  }

  /** encode() into a writer (the recipient record's). */
  writeTo(writer: ByteWriter): void {
    for (const entry of this.#entries) {
      writer.uint32(entry.hash >>> 0);
      writer.uint32(entry.second >>> 0);
    }
  }

  encode(): Buffer {
    const bytes = Buffer.allocUnsafe(this.#entries.length * 8);
    this.#entries.forEach((entry, index) => {
      bytes.writeUInt32BE(entry.hash >>> 0, index * 8);
      bytes.writeUInt32BE(entry.second >>> 0, index * 8 + 4);
    });
    return bytes;
  }

  get size(): number {
    return this.#entries.length;
  }
}
