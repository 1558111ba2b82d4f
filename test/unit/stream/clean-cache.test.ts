import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CleanCache } from '../../../services/shared/stream/state-transaction.ts';

/** The cache's contract in its plainest form: a Map in recency order, the oldest sixteenth evicted when full. */
class ReferenceCache {
  readonly entries = new Map<string, Buffer | null>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  lookup(key: string): Buffer | null | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }
  remember(key: string, value: Buffer | null): void {
    if (this.max <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) {
      let excess = this.entries.size - this.max + Math.ceil(this.max / 16);
      for (const old of [...this.entries.keys()]) if (excess-- > 0) this.entries.delete(old);
    }
  }
  touch(key: string): boolean {
    return this.lookup(key) !== undefined;
  }
  forget(key: string): void {
    this.entries.delete(key);
  }
}

const operation = fc.oneof(
  fc.record({ op: fc.constant('lookup' as const), key: fc.nat(15) }),
  fc.record({ op: fc.constant('remember' as const), key: fc.nat(15), absent: fc.boolean() }),
  fc.record({ op: fc.constant('touch' as const), key: fc.nat(15) }),
  fc.record({ op: fc.constant('forget' as const), key: fc.nat(15) }),
  fc.record({ op: fc.constant('clear' as const) }),
);

describe('CleanCache', () => {
  it('keeps exactly what a least-recently-used map keeps, in any sequence of uses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.array(operation, { maxLength: 300 }), (max, operations) => {
        const cache = new CleanCache(max);
        let reference = new ReferenceCache(max);
        let version = 0;
        for (const step of operations) {
          if (step.op === 'clear') {
            cache.clear();
            reference = new ReferenceCache(max);
            continue;
          }
          const key = `k${step.key}`;
          if (step.op === 'lookup') expect(cache.lookup(key)).toEqual(reference.lookup(key));
          else if (step.op === 'touch') expect(cache.touch(key)).toBe(reference.touch(key));
          else if (step.op === 'forget') {
            cache.forget(key);
            reference.forget(key);
          } else {
            const value = step.absent ? null : Buffer.from(String(version++));
            cache.remember(key, value);
            reference.remember(key, value);
          }
          expect(cache.size).toBe(reference.entries.size);
        }
        for (let key = 0; key <= 15; key++) expect(cache.has(`k${key}`)).toBe(reference.entries.has(`k${key}`));
        // The recency order too: filling the cache with new keys evicts in the same order.
        for (let i = 0; i < max; i++) {
          cache.remember(`new${i}`, null);
          reference.remember(`new${i}`, null);
          for (const key of reference.entries.keys()) expect(cache.has(key)).toBe(true);
          expect(cache.size).toBe(reference.entries.size);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('counts hits and misses of lookups only', () => {
    const cache = new CleanCache(4);
    cache.remember('a', null);
    expect(cache.lookup('a')).toBeNull();
    expect(cache.lookup('b')).toBeUndefined();
    expect(cache.touch('a')).toBe(true);
    expect(cache.touch('b')).toBe(false);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
  });
});
