import { createHash } from 'node:crypto';
import { decodeProfile, emptyProfile, encodeProfile, mergeProfile, type DecayParams } from '../model/profile.ts';
import type { PooledAggregate } from './recipient-state.ts';

/** Version byte of a published partial aggregate. */
const PARTIAL_VERSION = 1;

/**
 * The key of one partition's partial aggregate in the priors topic. The partition number, not
 * the instance, names it: whoever owns the partition next overwrites the same key.
 */
export function priorRecordKey(partition: number, aggregateKey: string): string {
  return `${partition}|${aggregateKey}`;
}

export function parsePriorRecordKey(key: string): { partition: number; aggregateKey: string } {
  const bar = key.indexOf('|');
  const partition = Number(key.slice(0, bar));
  if (bar <= 0 || !Number.isSafeInteger(partition) || partition < 0 || !key.startsWith('a:', bar + 1)) {
    throw new RangeError(`"${key.slice(0, 200)}" is not a priors key (<partition>|a:<aggregate>)`);
  }
  return { partition, aggregateKey: key.slice(bar + 1) };
}

/** Value: version, the number of distinct recipients pooled (uint32), then the encoded profile. */
export function encodePartialPrior(partial: PooledAggregate): Buffer {
  const profile = encodeProfile(partial.profile);
  const bytes = Buffer.alloc(5 + profile.length);
  bytes.writeUInt8(PARTIAL_VERSION, 0);
  bytes.writeUInt32BE(partial.recipients, 1);
  bytes.set(profile, 5);
  return bytes;
}

/** A short digest of a published value: what an instance keeps to recognise a value already in the topic. */
export function digestOf(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('base64');
}

export function decodePartialPrior(bytes: Buffer): PooledAggregate {
  if (bytes.length < 6) throw new RangeError(`a partial prior is at least 6 bytes, not ${bytes.length}`);
  const version = bytes.readUInt8(0);
  if (version !== PARTIAL_VERSION) throw new RangeError(`unknown partial prior version ${version}`);
  return { recipients: bytes.readUInt32BE(1), profile: decodeProfile(bytes.subarray(5)) };
}

/**
 * The priors pooled over every partition: each partition's partial aggregate (as published by its
 * owner) kept by aggregate key, and their sum, computed when first asked after a change. Partials
 * are summed in partition order, so every instance holding the same partials gets the same sum.
 * The sum is a new profile each time (decisions cache a profile's dense cells by identity).
 */
export class PriorSums {
  readonly #params: DecayParams;
  readonly #parts = new Map<string, Map<number, PooledAggregate>>();
  readonly #sums = new Map<string, PooledAggregate | null>();

  constructor(params: DecayParams) {
    this.#params = params;
  }

  /** A partial changed (null: the partition's aggregate was emptied, or the key deleted). */
  set(partition: number, aggregateKey: string, partial: PooledAggregate | null): void {
    let parts = this.#parts.get(aggregateKey);
    if (partial === null) {
      if (!parts?.delete(partition)) return;
      if (parts.size === 0) this.#parts.delete(aggregateKey);
    } else {
      if (!parts) this.#parts.set(aggregateKey, (parts = new Map()));
      parts.set(partition, partial);
    }
    this.#sums.delete(aggregateKey);
  }

  /** Applies a record of the priors topic by its key (null value: tombstone). */
  setRecord(recordKey: string, partial: PooledAggregate | null): void {
    const { partition, aggregateKey } = parsePriorRecordKey(recordKey);
    this.set(partition, aggregateKey, partial);
  }

  /** The aggregate summed over all partitions, with the recipients it pools; null when none holds it. */
  get(aggregateKey: string): PooledAggregate | null {
    const cached = this.#sums.get(aggregateKey);
    if (cached !== undefined) return cached;
    const parts = this.#parts.get(aggregateKey);
    let sum: PooledAggregate | null = null;
    if (parts && parts.size > 0) {
      const profile = emptyProfile();
      let recipients = 0;
      for (const partition of [...parts.keys()].sort((a, b) => a - b)) {
        const part = parts.get(partition)!;
        mergeProfile(profile, part.profile, 1, this.#params);
        recipients += part.recipients;
      }
      sum = { profile, recipients };
    }
    this.#sums.set(aggregateKey, sum);
    return sum;
  }

  /** The aggregate keys held (any partition). */
  keys(): IterableIterator<string> {
    return this.#parts.keys();
  }
}
