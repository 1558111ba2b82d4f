import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import type { DeadLetter } from '../../../services/shared/contracts/record-types.ts';
import { CHANGELOG_OFFSET_KEY_PREFIX } from '../../../services/shared/stream/changelog.ts';
import { PartitionedRunner, type PartitionHandler } from '../../../services/shared/stream/partitioned-runner.ts';
import { runnerFixture } from '../support/runner-fixture.ts';
import { createTestTopics, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

class NoopHandler implements PartitionHandler<null> {
  async handle(): Promise<void> {}
}

/** A handler whose every record fails with a foreign (retriable) error, as a store that cannot write would. */
class FailingHandler implements PartitionHandler<null> {
  async handle(): Promise<void> {
    throw new Error('IO error: No space left on device');
  }
}


describe('runner faults on the real broker', () => {
  const { kafka, producer, logger, codec, client, stateDir, deadLetters, track } = runnerFixture('restore-faults-test', 'silent');

  async function runner(
    topics: ReturnType<typeof uniqueTopics>,
    dir: string,
    registry: Registry,
    livenessStallMs?: number,
    handler: PartitionHandler<null> = new NoopHandler(),
  ): Promise<PartitionedRunner<null>> {
    const created = new PartitionedRunner<null>({
      kafka: client(),
      producer,
      groupId: `${topics.engagement}.group`,
      instanceId: 'a',
      topics: [topics.engagement, topics.triggers],
      changelogTopic: topics.engineChangelog,
      stateDir: dir,
      cacheEntries: 100,
      handler,
      deadLetters: await deadLetters(topics.engagement),
      logger,
      registry,
      ...(livenessStallMs ? { livenessStallMs } : {}),
    });
    track(created);
    void created.start();
    return created;
  }

  it('quarantines malformed changelog records (offsets that are not numbers) and completes the restore', async () => {
    const topics = uniqueTopics('restore');
    await createTestTopics(topics, 1);
    const offsetKey = `${CHANGELOG_OFFSET_KEY_PREFIX}${topics.engagement}`;
    await producer.send({
      topic: topics.engineChangelog,
      messages: [
        { partition: 0, key: 'c:x', value: '1' },
        { partition: 0, key: offsetKey, value: '12' },
        { partition: 0, key: offsetKey, value: 'twelve' },
        { partition: 0, key: offsetKey, value: '' },
        { partition: 0, key: 'c:y', value: '2' },
      ],
    });
    const dir = await stateDir('restore-faults');
    const registry = new Registry();
    const restored = await runner(topics, dir, registry);
    await waitFor(() => restored.readiness().ready, 60_000, 'the runner restored and ready');
    const [store] = restored.ownedStores();
    expect(store!.nextOffset(topics.engagement)).toBe(12);
    expect((await store!.get('c:x'))?.toString()).toBe('1');
    expect((await store!.get('c:y'))?.toString()).toBe('2');
    expect(store!.changelogNext).toBe(5);
    const quarantined = (await registry.getSingleMetric('sto_state_quarantined_total')!.get()).values.find((value) => value.labels.source === 'changelog');
    expect(quarantined?.value).toBe(2);

    const letters: DeadLetter[] = [];
    const consumer = kafka.consumer({ groupId: `${topics.engagement}.dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: deadLetterTopic(topics.engagement), fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void letters.push(await codec.decode<DeadLetter>('deadLetter', message.value)) });
    await waitFor(() => letters.length >= 2, 30_000, 'two dead letters');
    await consumer.disconnect();
    expect(letters.map((letter) => [letter.sourceTopic, letter.sourceOffset, letter.errorCode, letter.key?.toString() ?? null, letter.value?.toString() ?? null])).toEqual([
      [topics.engineChangelog, 2, 'CORRUPT_STATE', offsetKey, 'twelve'],
      [topics.engineChangelog, 3, 'CORRUPT_STATE', offsetKey, ''],
    ]);
  });

  it('is not live, and says why, when a partition store cannot open', async () => {
    const topics = uniqueTopics('noopen');
    await createTestTopics(topics, 1);
    const dir = await stateDir('restore-noopen');
    // A file where the store's directory belongs: LevelDB cannot open it (as with a broken disk).
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'partition-0'), 'not a directory');
    const broken = await runner(topics, dir, new Registry());
    await waitFor(() => broken.readiness().detail.joined === true, 60_000, 'the runner joined');
    await waitFor(() => !broken.isLive(), 30_000, '/livez to fail');
    expect(broken.livenessProblem()).toMatch(/state store of partition\(s\) 0 cannot open/);
    expect(broken.readiness().ready).toBe(false);
  });

  it('is not live, and says why, when its consumer loop has made no progress for STO_LIVENESS_STALL_MS', async () => {
    const topics = uniqueTopics('stall');
    await createTestTopics(topics, 1);
    const dir = await stateDir('runner-stall');
    const stalled = await runner(topics, dir, new Registry(), 10_000, new FailingHandler());
    await waitFor(() => stalled.readiness().ready, 60_000, 'the runner ready');
    expect(stalled.isLive()).toBe(true);
    await producer.send({ topic: topics.engagement, messages: [{ key: 'k', value: 'v' }] });
    // The batch fails and is retried; fetches go on but are no progress. Bounded: stall time plus slack.
    await waitFor(() => !stalled.isLive(), 40_000, '/livez to fail after 10 s without progress');
    expect(stalled.livenessProblem()).toMatch(/consumer loop made no progress for \d+ s: a batch keeps failing \(IO error: No space left on device\)/);
  });
});
