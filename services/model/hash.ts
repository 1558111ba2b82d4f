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

function digestOf(parts: readonly string[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest();
}
