import type { ByteReader, ByteWriter } from '../model/byte-codec.ts';

/**
 * The recent event ids of one recipient, for deduplication: (32-bit id hash, event second) pairs,
 * newest last, bounded in count and age. Kept next to the recipient's counters, so it moves with
 * the partition through the changelog. A 32-bit hash per recipient makes a false duplicate
 * roughly a 1-in-4-billion event per pair compared.
 *
 * The pairs sit in two number arrays edited in place: every engagement event goes through
 * seenOrRecord, and an object per pair plus the filtered copies of the list were garbage made per
 * event on the ingest path.
 */
export class RecentEventIds {
  readonly #hashes: number[];
  readonly #seconds: number[];

  private constructor(hashes: number[], seconds: number[]) {
    this.#hashes = hashes;
    this.#seconds = seconds;
  }

  static empty(): RecentEventIds {
    return new RecentEventIds([], []);
  }

  static decode(bytes: Buffer | undefined): RecentEventIds {
    const hashes: number[] = [];
    const seconds: number[] = [];
    if (bytes) {
      for (let at = 0; at + 8 <= bytes.length; at += 8) {
        hashes.push(bytes.readUInt32BE(at));
        seconds.push(bytes.readUInt32BE(at + 4));
      }
    }
    return new RecentEventIds(hashes, seconds);
  }

  /** The pairs from a reader's remaining bytes (the end of a recipient record), as decode() reads them. */
  static read(reader: ByteReader): RecentEventIds {
    const hashes: number[] = [];
    const seconds: number[] = [];
    while (reader.remaining >= 8) {
      hashes.push(reader.uint32());
      seconds.push(reader.uint32());
    }
    reader.skip(reader.remaining);
    return new RecentEventIds(hashes, seconds);
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

  /** True when the id was seen inside the window; otherwise records it (then keeps the newest maxIds inside the window). */
  seenOrRecord(eventId: string, atMs: number, windowMs: number, maxIds: number): boolean {
    if (maxIds === 0 || windowMs === 0) return false;
    const hash = RecentEventIds.hash(eventId);
    const second = Math.max(0, Math.floor(atMs / 1000));
    const horizon = second - Math.floor(windowMs / 1000);
    const hashes = this.#hashes;
    const seconds = this.#seconds;
    for (let i = 0; i < hashes.length; i++) if (hashes[i] === hash && seconds[i]! >= horizon) return true;
    hashes.push(hash);
    seconds.push(second);
    // Drop the pairs older than the window, keeping order; then the oldest beyond maxIds.
    let kept = 0;
    for (let i = 0; i < hashes.length; i++) {
      if (seconds[i]! < horizon) continue;
      hashes[kept] = hashes[i]!;
      seconds[kept] = seconds[i]!;
      kept++;
    }
    const drop = Math.max(0, kept - maxIds);
    if (drop > 0) {
      hashes.copyWithin(0, drop, kept);
      seconds.copyWithin(0, drop, kept);
    }
    hashes.length = kept - drop;
    seconds.length = kept - drop;
    return false;
  }

  /** encode() into a writer (the recipient record's). */
  writeTo(writer: ByteWriter): void {
    for (let i = 0; i < this.#hashes.length; i++) {
      writer.uint32(this.#hashes[i]! >>> 0);
      writer.uint32(this.#seconds[i]! >>> 0);
    }
  }

  encode(): Buffer {
    const bytes = Buffer.allocUnsafe(this.#hashes.length * 8);
    for (let i = 0; i < this.#hashes.length; i++) {
      bytes.writeUInt32BE(this.#hashes[i]! >>> 0, i * 8);
      bytes.writeUInt32BE(this.#seconds[i]! >>> 0, i * 8 + 4);
    }
    return bytes;
  }

  get size(): number {
    return this.#hashes.length;
  }
}
