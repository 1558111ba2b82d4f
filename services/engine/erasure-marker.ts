import { ByteReader, ByteWriter } from '../model/byte-codec.ts';
import { stableHashHex } from '../model/hash.ts';

/**
 * What is left of an erased recipient: the instant of the erasure, so that their events and
 * triggers from before it, consumed later (the three input topics are read independently, and
 * producers retry), do not bring them back. Keyed by a hash of the recipient id, not the id, and
 * bounded in time: it expires `STO_ENGINE_ERASURE_MARKER_DAYS` after the erasure (stream time,
 * i.e. input record timestamps), and an expiry index (`x:<expiry>:<hash>`) lets an erasure
 * request sweep the expired ones of its partition.
 */
export interface ErasureMarker {
  erasedAtMs: number;
  expiresAtMs: number;
}

export const ERASURE_KEYS = {
  marker: (recipientId: string) => `e:${stableHashHex(['erased', recipientId]).slice(0, 32)}`,
  /** Expiry index entry of a marker key: key order is expiry order. */
  expiry: (markerKey: string, expiresAtMs: number) => `x:${String(Math.max(0, Math.floor(expiresAtMs))).padStart(15, '0')}:${markerKey.slice(2)}`,
  /** Index entries of markers that expire at or before `atMs`: [gte, lt). */
  expiredRange: (atMs: number) => ({ gte: 'x:', lt: `x:${String(Math.max(0, Math.floor(atMs) + 1)).padStart(15, '0')}` }),
  markerOfExpiry: (expiryKey: string) => `e:${expiryKey.slice(2 + 15 + 1)}`,
} as const;

const LAYOUT = 1;

export function encodeMarker(marker: ErasureMarker): Buffer {
  const writer = new ByteWriter(24);
  writer.varint(LAYOUT);
  writer.varint(marker.erasedAtMs);
  writer.varint(marker.expiresAtMs);
  const bytes = writer.done();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function decodeMarker(bytes: Buffer): ErasureMarker {
  const reader = new ByteReader(bytes);
  const layout = reader.varint();
  if (layout !== LAYOUT) throw new RangeError(`unknown erasure marker layout ${layout}`);
  return { erasedAtMs: reader.varint(), expiresAtMs: reader.varint() };
}
