import { describe, expect, it } from 'vitest';
import { requestChunks } from '../../../services/shared/stream/partitioned-runner.ts';

describe('produce requests stay under the broker limit', () => {
  it('splits megabytes of changelog into ordered chunks under the limit, losing nothing', () => {
    const changelog = Array.from({ length: 5_000 }, (_, i) => ({ key: `r:${i}`, value: Buffer.alloc(300 + (i % 700)) }));
    const outputs = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(2_000) }));
    const chunks = requestChunks(new Map([['out', outputs], ['changelog', changelog]]), 512 * 1024);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      const bytes = chunk.flatMap((entry) => entry.messages).reduce((sum, message) => sum + String(message.key).length + (message.value as Buffer).length, 0);
      expect(bytes).toBeLessThanOrEqual(512 * 1024);
    }
    const flat = (topic: string) => chunks.flatMap((chunk) => chunk.filter((entry) => entry.topic === topic).flatMap((entry) => entry.messages));
    expect(flat('changelog')).toEqual(changelog);
    expect(flat('out')).toEqual(outputs);
  });

  it('keeps a small batch in one request', () => {
    const chunks = requestChunks(new Map([['a', [{ key: 'x', value: Buffer.alloc(10) }]], ['b', [{ key: 'y', value: null }]]]), 512 * 1024);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.map((entry) => entry.topic)).toEqual(['a', 'b']);
  });
});
