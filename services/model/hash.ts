import { createHash } from 'node:crypto';

// Stable hashes for ids and deterministic draws. Parts are length-prefixed so ("ab", "c") and
// ("a", "bc") never collide, and every use names its own domain ("holdout", "explore", ...) so
// draws for different purposes are independent of one another.

const TWO_POW_48 = 2 ** 48;

/** SHA-256 of the length-prefixed parts, as lowercase hex (64 characters). */
export function stableHashHex(parts: readonly string[]): string {
  return digestOf(parts).toString('hex');
}

/** A number in [0, 1) drawn deterministically from the parts (48 bits of SHA-256). */
export function stableUnitInterval(parts: readonly string[]): number {
  return digestOf(parts).readUIntBE(0, 6) / TWO_POW_48;
}

/** The schedule id of a trigger: 128 bits of SHA-256 over ("schedule", triggerId), hex. */
export function scheduleIdOf(triggerId: string): string {
  return stableHashHex(['schedule', triggerId]).slice(0, 32);
}

function digestOf(parts: readonly string[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest();
}
