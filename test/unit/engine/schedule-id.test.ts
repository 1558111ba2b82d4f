import { describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { scheduleIdOf, stableHashHex, stableUnitInterval } from '../../../services/model/hash.ts';
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

  it('are the ids and draws logged decisions already carry (the hashed bytes never change, whatever the code that frames them)', () => {
    // Values of the first implementation (an incremental SHA-256 of each part's UTF-8 length,
    // a colon and its bytes), non-ASCII and lone surrogates included.
    expect(scheduleIdOf('newsletter-2026-12', 'alice', 0)).toBe('6f0f60486638e44eccdc8d128a39d1fb');
    expect(scheduleIdOf('t', '\u00e4', 2)).toBe('7cdbf08638651370b4de7138942cf279');
    expect(stableHashHex(['erasure', 'Zo\u00eb \u{1F600}', '', 'x\ud800', '\udc00y'])).toBe('9269b8defb8c61ed818ccbe8360c3b1c0bf3ca617ccdd68f280f05dc31b1a54f');
    expect(stableUnitInterval(['holdout', 'recipient-7', 'campaign-3'])).toBe(0.7887492263617837);
    expect(stableUnitInterval(['explore', '\u00e9\ud83d'])).toBe(0.41662581099810936);
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
