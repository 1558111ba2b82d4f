import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { scheduleIdOf } from '../../../services/model/hash.ts';
import { InMemoryEngine } from '../../../services/simulator/in-memory-engine.ts';
import { sampleTrigger } from '../../support/sample-records.ts';

describe('schedule ids', () => {
  it('differ between recipients of one trigger id, and between sequence steps', () => {
    const ids = new Set([scheduleIdOf('campaign-42', 'alice'), scheduleIdOf('campaign-42', 'bob'), scheduleIdOf('campaign-42', 'alice', 1)]);
    expect(ids.size).toBe(3);
    // Length-prefixed parts: moving characters between recipient and trigger id gives another id.
    expect(scheduleIdOf('b-t', 'a')).not.toBe(scheduleIdOf('t', 'a-b'));
    expect(() => scheduleIdOf('t', 'a', -1)).toThrow(RangeError);
  });

  it('two recipients triggered with one trigger id get two schedule ids, and a replay gives the same ids', async () => {
    const engine = new InMemoryEngine(compileEngineConfig({}), 1);
    const base = { ...sampleTrigger(1), triggerId: 'newsletter-2026-12', sendAt: null, windowHours: 24 };
    const decide = async (recipientId: string) => {
      const decision = await engine.decide({ ...base, recipientId });
      if (typeof decision === 'string') throw new Error(decision);
      return decision.scheduleId;
    };
    const alice = await decide('alice');
    const bob = await decide('bob');
    expect(alice).not.toBe(bob);
    expect(alice).toMatch(/^[0-9a-f]{32}$/);
    expect(await decide('alice')).toBe(alice);
    expect(await decide('bob')).toBe(bob);
  });
});
