import type { KafkaMessage } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import { PartitionedRunner, type PartitionHandler } from '../../../services/shared/stream/partitioned-runner.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import type { StateTransaction } from '../../../services/shared/stream/state-transaction.ts';
import { InputError } from '../../../services/shared/errors.ts';
import { runnerFixture } from '../support/runner-fixture.ts';
import { createTestTopics, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const PARTITIONS = 4;

/** Counts records per key; a record whose value is "poison" is an input error. */
class CountingHandler implements PartitionHandler {
  async handle(_topic: string, message: KafkaMessage, tx: StateTransaction): Promise<void> {
    if (message.value?.toString() === 'poison') throw new InputError('INVALID_FIELD', 'poison record');
    const key = `c:${message.key?.toString()}`;
    const current = Number((await tx.get(key))?.toString() ?? '0');
    tx.put(key, Buffer.from(String(current + 1)));
  }
}


describe('partitioned runner on the real broker', () => {
  const topics = uniqueTopics('runner');
  const { kafka, producer, logger, codec, client, stateDir, deadLetters, track } = runnerFixture('runner-test');
  const runners: PartitionedRunner[] = [];

  beforeAll(async () => {
    await createTestTopics(topics, PARTITIONS);
  });

  async function startRunner(instanceId: string): Promise<{ runner: PartitionedRunner; stateDir: string; registry: Registry }> {
    const dir = await stateDir(`runner-${instanceId}`);
    const registry = new Registry();
    const runner = track(
      new PartitionedRunner({
        kafka: client(),
        producer,
        groupId: `${topics.engagement}.group`,
        instanceId,
        topics: [topics.engagement, topics.triggers],
        changelogTopic: topics.engineChangelog,
        stateDir: dir,
        cacheEntries: 1_000,
        handler: new CountingHandler(),
        deadLetters: await deadLetters(topics.engagement),
        logger,
        registry,
        sessionTimeoutMs: 10_000,
      }),
    );
    runners.push(runner);
    await runner.start();
    return { runner, stateDir: dir, registry };
  }

  async function produce(count: number, offset: number): Promise<void> {
    const messages = Array.from({ length: count }, (_, index) => ({ key: `k${(offset + index) % 50}`, value: 'x' }));
    for (let at = 0; at < messages.length; at += 500) await producer.send({ topic: topics.engagement, messages: messages.slice(at, at + 500) });
  }

  async function totals(active: PartitionedRunner[]): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    for (const runner of active) {
      for (const store of runner.ownedStores()) {
        for await (const [key, value] of store.entries({ gte: 'c:', lt: 'c:\xff' })) result.set(key, Number(value.toString()));
      }
    }
    return result;
  }

  const sum = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);

  /** Counts per owned partition ("partition:key" -> count), to see what each instance holds. */
  async function countsByPartition(runner: PartitionedRunner, only?: number[]): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    for (const store of runner.ownedStores()) {
      if (only && !only.includes(store.partition)) continue;
      for await (const [key, value] of store.entries({ gte: 'c:', lt: 'c:\xff' })) result.set(`${store.partition}:${key}`, Number(value.toString()));
    }
    return result;
  }

  const only = (map: Map<string, number>, partitions: number[]) => new Map([...map].filter(([key]) => partitions.includes(Number(key.split(':')[0]))));

  async function restoredRecords(registry: Registry): Promise<number> {
    const metric = (await registry.getMetricsAsJSON()).find((entry) => entry.name === 'sto_state_restored_records_total');
    return (metric?.values ?? []).reduce((total, value) => total + value.value, 0);
  }

  it('counts every record once through a join and a leave, and dead-letters poison', async () => {
    const first = await startRunner('a');
    await waitFor(() => first.runner.readiness().ready, 60_000, 'first runner ready');
    expect(first.runner.readiness().detail.owned).toEqual([0, 1, 2, 3]);
    await produce(2_000, 0);
    await producer.send({ topic: topics.engagement, messages: [{ key: 'k1', value: 'poison' }] });
    await waitFor(async () => sum(await totals([first.runner])) === 2_000, 60_000, '2000 counted');
    const beforeJoin = await countsByPartition(first.runner);
    expect(new Set([...beforeJoin.keys()].map((key) => key.split(':')[0])), 'the first runner counted keys in every partition').toEqual(new Set(['0', '1', '2', '3']));

    const second = await startRunner('b');
    await waitFor(
      () => first.runner.readiness().ready && second.runner.readiness().ready && (second.runner.readiness().detail.owned as number[]).length === 2,
      90_000,
      'rebalance to two runners',
    );
    expect(first.runner.readiness().detail.owned).toEqual([0, 1]);
    expect(second.runner.readiness().detail.owned).toEqual([2, 3]);
    // Partitions 2 and 3 moved: the first runner no longer holds them, and the second restored
    // exactly the counts the first had made there, from the changelog, before counting more.
    expect([...(await countsByPartition(first.runner)).keys()].every((key) => key.startsWith('0:') || key.startsWith('1:')), 'first runner still holds moved partitions').toBe(true);
    expect(await countsByPartition(second.runner), 'second runner restored partitions 2 and 3').toEqual(only(beforeJoin, [2, 3]));
    expect(await restoredRecords(second.registry)).toBeGreaterThan(0);
    await produce(2_000, 2_000);
    await waitFor(async () => sum(await totals([first.runner, second.runner])) === 4_000, 60_000, '4000 counted');
    const beforeLeave = await countsByPartition(first.runner);
    const restoredBeforeLeave = await restoredRecords(second.registry);

    await first.runner.stop();
    await waitFor(() => second.runner.readiness().ready && (second.runner.readiness().detail.owned as number[]).length === 4, 90_000, 'second owns all');
    // Partitions 0 and 1 moved back: the second runner restored the first's counts there.
    expect(await countsByPartition(second.runner, [0, 1]), 'second runner restored partitions 0 and 1').toEqual(beforeLeave);
    expect(await restoredRecords(second.registry)).toBeGreaterThan(restoredBeforeLeave);
    await produce(1_000, 4_000);
    await waitFor(async () => sum(await totals([second.runner])) === 5_000, 60_000, '5000 counted');
    const counts = await totals([second.runner]);
    for (let key = 0; key < 50; key++) expect(counts.get(`c:k${key}`)).toBe(100);

    // The poison record went to the dead-letter topic with its bytes and the reason.
    const consumer = kafka.consumer({ groupId: `${topics.engagement}.dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: deadLetterTopic(topics.engagement), fromBeginning: true });
    const letters: Record<string, unknown>[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void letters.push(await codec.decode('deadLetter', message.value)) });
    await waitFor(() => letters.length >= 1, 30_000, 'dead letter');
    await consumer.disconnect();
    expect(letters[0]).toMatchObject({ sourceTopic: topics.engagement, errorCode: 'INVALID_FIELD', reason: 'poison record', service: 'test' });
    expect((letters[0]?.value as Buffer).toString()).toBe('poison');
  });

  it('keeps the consumed offsets inside the store', async () => {
    const stores = runners.at(-1)!.ownedStores();
    const next = stores.map((store: PartitionStore) => store.nextOffset(topics.engagement));
    expect(next.reduce((a, b) => a + b, 0)).toBe(5_001);
  });
});
