import { createHash } from 'node:crypto';

/** A stable number in [0, 1) from a string: deterministic across processes, platforms and replays. */
export function stableUnit(key: string): number {
  const digest = createHash('sha256').update(key).digest();
  return digest.readUInt32BE(0) / 0x1_0000_0000;
}

/** A stable hex id from a string. */
export function stableId(key: string, length = 32): string {
  return createHash('sha256').update(key).digest('hex').slice(0, length);
}
