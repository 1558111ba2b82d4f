import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignCoPartitioned } from '../../../services/shared/stream/co-partitioned-assigner.ts';

describe('co-partitioned assignment', () => {
  it('gives every partition number to exactly one member, balanced', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 48 }), (memberCount, partitions) => {
        const claims = Array.from({ length: memberCount }, (_, index) => ({ memberId: `m${index}`, instanceId: `i${index}`, owned: [] }));
        const plan = assignCoPartitioned(claims, partitions);
        const all = [...plan.values()].flat().sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: partitions }, (_, index) => index));
        const sizes = [...plan.values()].map((list) => list.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('is sticky: members keep what they owned up to their share', () => {
    const before = assignCoPartitioned([{ memberId: 'a', instanceId: 'a', owned: [] }], 6);
    expect(before.get('a')).toEqual([0, 1, 2, 3, 4, 5]);
    const after = assignCoPartitioned(
      [
        { memberId: 'a', instanceId: 'a', owned: [0, 1, 2, 3, 4, 5] },
        { memberId: 'b', instanceId: 'b', owned: [] },
      ],
      6,
    );
    expect(after.get('a')).toEqual([0, 1, 2]);
    expect(after.get('b')).toEqual([3, 4, 5]);
    const third = assignCoPartitioned(
      [
        { memberId: 'a', instanceId: 'a', owned: [0, 1, 2] },
        { memberId: 'b', instanceId: 'b', owned: [3, 4, 5] },
        { memberId: 'c', instanceId: 'c', owned: [] },
      ],
      6,
    );
    expect(third.get('a')).toEqual([0, 1]);
    expect(third.get('b')).toEqual([3, 4]);
    expect(third.get('c')).toEqual([2, 5]);
  });
});
