import type { KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PartitionedRunner, type PartitionHandler } from '../../../services/shared/stream/partitioned-runner.ts';
import type { StateTransaction } from '../../../services/shared/stream/state-transaction.ts';
import { runnerFixture } from '../support/runner-fixture.ts';
import { createTestTopics, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Counts records per key and deletes the key on a "delete" record. It declares no state keys, so
 * every read goes through the cache and is counted as a hit or a miss (a miss reads LevelDB).
 */
class CountingHandler implements PartitionHandler {
  async handle(_topic: string, message: KafkaMessage, tx: StateTransaction): Promise<void> {
    const key = `c:${message.key?.toString()}`;
    const current = Number((await tx.get(key))?.toString() ?? '0');
    if (message.value?.toString() === 'delete') tx.delete(key);
    else tx.put(key, Buffer.from(String(current + 1)));
  }
}

const KEYS = Array.from({ length: 10 }, (_, index) => `k${index}`);

describe('a restore keeps what it writes in the cache', () => {
  const { producer, logger, client, stateDir, deadLetters, track } = runnerFixture('restore-cache-test');
  let started = 0;

  async function startRunner(topics: ReturnType<typeof uniqueTopics>, cacheEntries: number): Promise<{ runner: PartitionedRunner; registry: Registry }> {
    const registry = new Registry();
    const runner = track(
      new PartitionedRunner({
        kafka: client(),
        producer,
        groupId: `${topics.engagement}.group`,
        instanceId: `i${started++}`,
        topics: [topics.engagement],
        changelogTopic: topics.engineChangelog,
        stateDir: await stateDir('restore-cache'),
        cacheEntries,
        handler: new CountingHandler(),
        deadLetters: await deadLetters(topics.engagement),
        logger,
        registry,
      }),
    );
    void runner.start();
    await waitFor(() => runner.readiness().ready, 60_000, 'the runner joined and restored');
    return { runner, registry };
  }

  async function counts(runner: PartitionedRunner): Promise<Record<string, number>> {
    const result: Record<string, number> = {};
    for (const store of runner.ownedStores()) for await (const [key, value] of store.entries({ gte: 'c:', lt: 'c:\xff' })) result[key] = Number(value.toString());
    return result;
  }

  async function metric(registry: Registry, name: string): Promise<number> {
    const found = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
    return found?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
  }

  /** Three records per key, then k0 deleted; a first runner applies them and stops; a second one with an empty directory restores. */
  async function restoredRunner(label: string, cacheEntries: number): Promise<{ topics: ReturnType<typeof uniqueTopics>; runner: PartitionedRunner; registry: Registry }> {
    const topics = uniqueTopics(label);
    await createTestTopics(topics, 1);
    await producer.send({ topic: topics.engagement, messages: [1, 2, 3].flatMap(() => KEYS.map((key) => ({ key, value: 'x' }))) });
    await producer.send({ topic: topics.engagement, messages: [{ key: 'k0', value: 'delete' }] });
    const first = await startRunner(topics, 1_000);
    const expected = Object.fromEntries(KEYS.slice(1).map((key) => [`c:${key}`, 3]));
    await waitFor(async () => JSON.stringify(await counts(first.runner)) === JSON.stringify(expected), 60_000, 'the first runner applied every record');
    await first.runner.stop();
    const second = await startRunner(topics, cacheEntries);
    expect(await metric(second.registry, 'sto_state_restored_records_total'), 'the second runner restored from the changelog').toBeGreaterThan(0);
    return { topics, ...second };
  }

  it('serves the first reads after a restore from memory, the deleted key as absent, with the store values', async () => {
    const { topics, runner, registry } = await restoredRunner('restore-cache', 1_000);
    await producer.send({ topic: topics.engagement, messages: KEYS.map((key) => ({ key, value: 'x' })) });
    const expected = Object.fromEntries(KEYS.map((key) => [`c:${key}`, key === 'k0' ? 1 : 4]));
    await waitFor(async () => JSON.stringify(await counts(runner)) === JSON.stringify(expected), 60_000, 'the second runner applied one more record per key');
    // Before, the cache started empty after a restore: each of the ten keys was read from LevelDB.
    expect(await metric(registry, 'sto_state_cache_misses_total'), 'reads that went to LevelDB').toBe(0);
    expect(await metric(registry, 'sto_state_cache_hits_total'), 'reads served by the cache').toBe(KEYS.length);
  });

  it('keeps the most recent writes when the restore writes more keys than the cache holds, and reads the rest from the store', async () => {
    const { topics, runner, registry } = await restoredRunner('restore-cache-small', 4);
    // Newest first: the restore wrote k9 last, so the cache holds the last keys it wrote.
    await producer.send({ topic: topics.engagement, messages: [...KEYS].reverse().map((key) => ({ key, value: 'x' })) });
    const expected = Object.fromEntries(KEYS.map((key) => [`c:${key}`, key === 'k0' ? 1 : 4]));
    await waitFor(async () => JSON.stringify(await counts(runner)) === JSON.stringify(expected), 60_000, 'the second runner applied one more record per key');
    const hits = await metric(registry, 'sto_state_cache_hits_total');
    expect(hits, 'some reads served by the cache').toBeGreaterThan(0);
    expect(hits, 'no more than the cache holds').toBeLessThanOrEqual(4);
    expect(hits + (await metric(registry, 'sto_state_cache_misses_total'))).toBe(KEYS.length);
  });
});
