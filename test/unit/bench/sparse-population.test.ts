import { describe, expect, it } from 'vitest';
import { CacheRereads, growthNote } from '../../../bench/ingest-bench.ts';
import { sparsePopulation, sparsePopulationBatches } from '../../../bench/sparse-population.ts';

describe('the sparse population in batches (the growth bench produces 5,000,000 recipients this way)', () => {
  it('holds the same events in the same order as sparsePopulation', () => {
    const now = Date.UTC(2026, 11, 2, 3, 0, 0);
    const whole = sparsePopulation(3_000, now);
    const batches = [...sparsePopulationBatches(3_000, now, 700)];
    expect(batches.slice(0, -1).every((batch) => batch.length === 700)).toBe(true);
    const joined = batches.flat();
    expect(joined.length).toBe(whole.length);
    expect(joined).toEqual(whole);
  });
});

describe('the cache rereads the growth bench counts', () => {
  const now = Date.UTC(2026, 11, 2, 3, 0, 0);
  function count(recipients: number, capacity: number): CacheRereads {
    const cache = new CacheRereads(capacity);
    for (const event of sparsePopulation(recipients, now)) cache.read(event.recipientId);
    return cache;
  }

  it('none while the cache holds every recipient, more as it holds fewer', () => {
    const all = count(2_000, 2_000);
    expect(all.firstReads).toBe(2_000);
    expect(all.rereads).toBe(0);
    const small = count(2_000, 200);
    expect(small.events).toBe(all.events);
    expect(small.firstReads).toBe(2_000);
    expect(small.rereads).toBeGreaterThan(0);
    expect(small.firstReads + small.rereads).toBeLessThanOrEqual(small.events);
    expect(count(2_000, 20).rereads).toBeGreaterThan(small.rereads);
  });

  it('keeps the most recently read recipients, not the first ones', () => {
    const cache = new CacheRereads(2);
    for (const id of ['a', 'b', 'a', 'c', 'a', 'b']) cache.read(id);
    // a stays (read again before c came); b was the least recent when c came, so it is reread.
    expect([cache.firstReads, cache.rereads]).toEqual([3, 1]);
  });
});

describe("the growth section's reading of its figures", () => {
  it('names the steepest fall in events per CPU-second and the rereads and GC on each side', () => {
    const note = growthNote([
      { recipients: 100_000, perCpu: 30_000, rereadShare: 0, gcShare: 0.1 },
      { recipients: 1_000_000, perCpu: 18_000, rereadShare: 0.38, gcShare: 0.32 },
      { recipients: 5_000_000, perCpu: 16_000, rereadShare: 0.5, gcShare: 0.35 },
    ]);
    expect(note).toContain('1,000,000: 0.60×, 5,000,000: 0.89×');
    expect(note).toContain('from 100,000 to 1,000,000 recipients');
    expect(note).toContain('from 0% to 38%');
    expect(note).toContain('from 10% to 32%');
    expect(growthNote([{ recipients: 1, perCpu: 1, rereadShare: 0, gcShare: 0 }])).toBe('');
  });
});
