import { hash } from 'node:crypto';

// Stable hashes for ids and deterministic draws. Parts are length-prefixed so ("ab", "c") and
// ("a", "bc") never collide, and every use names its own domain ("holdout", "explore", ...) so
// draws for different purposes are independent of one another.

const TWO_POW_48 = 2 ** 48;

/** SHA-256 of the length-prefixed parts, as lowercase hex (64 characters). */
export function stableHashHex(parts: readonly string[]): string {
  return hash('sha256', framed(parts), 'hex');
}

/** A number in [0, 1) drawn deterministically from the parts (48 bits of SHA-256). */
export function stableUnitInterval(parts: readonly string[]): number {
  // The first 48 bits, big-endian, as the digest's first 12 hex digits: a hex digest costs a third
  // of a Buffer digest (no buffer to allocate), and 48 bits parse exactly.
  return Number.parseInt(stableHashHex(parts).slice(0, 12), 16) / TWO_POW_48;
}

/**
 * The schedule id of one send: 128 bits of SHA-256 over ("schedule", recipientId, triggerId, step),
 * hex. A trigger id is unique per sender, not across recipients (a campaign may reuse it for every
 * recipient), so the recipient is part of the id; `step` numbers the sends of a sequence (0 for a
 * single send). Deterministic: replaying a trigger gives the same id.
 */
export function scheduleIdOf(triggerId: string, recipientId: string, step = 0): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`sequence step ${step} is not a non-negative integer`);
  return stableHashHex(['schedule', recipientId, triggerId, String(step)]).slice(0, 32);
}

/**
 * The bytes hashed, as one string: each part's UTF-8 length, a colon, the part (one-shot hashing
 * of one string costs a fraction of an incremental hash's updates, and a decision draws three).
 * The UTF-8 of the string is the parts' UTF-8 with their prefixes, as the ASCII prefixes keep a
 * lone surrogate from pairing with a neighbour.
 */
function framed(parts: readonly string[]): string {
  let text = '';
  for (const part of parts) text += `${Buffer.byteLength(part, 'utf8')}:${part}`;
  return text;
}
