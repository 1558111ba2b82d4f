import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../../services/shared/min-heap.ts';

describe('min-heap', () => {
  it('pops in order, with interleaved pushes', () => {
    const heap = new MinHeap<number>((a, b) => a < b);
    const values = Array.from({ length: 2_000 }, (_, i) => (i * 7_919) % 1_009);
    const popped: number[] = [];
    values.forEach((value, i) => {
      heap.push(value);
      if (i % 3 === 0) popped.push(heap.pop()!);
    });
    const rest: number[] = [];
    while (heap.size > 0) rest.push(heap.pop()!);
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
    expect([...popped, ...rest].sort((a, b) => a - b)).toEqual([...values].sort((a, b) => a - b));
    expect(heap.pop()).toBeUndefined();
  });
});
