import { Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { PartitionedRunner, type PartitionHandler, type PunctuationContext } from '../../../services/shared/stream/partitioned-runner.ts';
import { runnerFixture } from '../support/runner-fixture.ts';
import { createTestTopics, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

/**
 * A handler whose punctuation writes one marker per partition, `mark:<instance>:<partition>`,
 * and, when asked, waits inside the punctuation of partition 1 until the test lets it go.
 */
class MarkingHandler implements PartitionHandler<null> {
  readonly instance: string;
  armed = false;
  hold: { entered: () => void; gate: Promise<void> } | null = null;

  constructor(instance: string) {
    this.instance = instance;
  }

  async handle(): Promise<void> {}

  onOpen(): null {
    return null;
  }

  readonly punctuator = {
    nextWakeUp: async () => (this.armed ? 0 : null),
    punctuate: async ({ tx }: PunctuationContext) => {
      tx.put(`mark:${this.instance}:${tx.partition}`, Buffer.from('1'));
      if (tx.partition === 1 && this.hold) {
        this.armed = false;
        this.hold.entered();
        await this.hold.gate;
      }
      return {};
    },
  };
}


describe('punctuation and rebalance on the real broker', () => {
  const topics = uniqueTopics('punct');
  const { kafka, producer, logger, client, stateDir, deadLetters, track } = runnerFixture('punctuation-test');

  beforeAll(async () => {
    await createTestTopics(topics, 2);
  });

  async function startRunner(handler: MarkingHandler): Promise<PartitionedRunner<null>> {
    const runner = track(
      new PartitionedRunner<null>({
        kafka: client(),
        producer,
        groupId: `${topics.engagement}.group`,
        instanceId: handler.instance,
        topics: [topics.engagement, topics.triggers],
        changelogTopic: topics.engineChangelog,
        stateDir: await stateDir(`punct-${handler.instance}`),
        cacheEntries: 100,
        handler,
        deadLetters: await deadLetters(topics.engagement),
        logger,
        registry: new Registry(),
      }),
    );
    void runner.start();
    return runner;
  }

  /** Every changelog key per partition, read to the end. */
  async function changelogKeys(): Promise<Map<number, string[]>> {
    const admin = kafka.admin();
    await admin.connect();
    const marks = await admin.fetchTopicOffsets(topics.engineChangelog);
    await admin.disconnect();
    const keys = new Map<number, string[]>(marks.map((mark) => [mark.partition, []]));
    const remaining = new Set(marks.filter((mark) => Number(mark.high) > 0).map((mark) => mark.partition));
    const consumer = kafka.consumer({ groupId: `${topics.engineChangelog}.reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.engineChangelog, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        keys.get(partition)!.push(message.key?.toString() ?? '');
        const high = Number(marks.find((mark) => mark.partition === partition)!.high);
        if (Number(message.offset) >= high - 1) remaining.delete(partition);
      },
    });
    await waitFor(() => remaining.size === 0, 30_000, 'the changelog read to its end');
    await consumer.disconnect();
    return keys;
  }

  it('never commits a punctuation for a partition revoked while it ran', async () => {
    const a = new MarkingHandler('a');
    const first = await startRunner(a);
    await waitFor(() => first.readiness().ready && (first.readiness().detail.owned as number[]).length === 2, 60_000, 'runner a ready with both partitions');

    // A pass over both partitions that stops inside partition 1's punctuation.
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let open!: () => void;
    a.hold = { entered, gate: new Promise<void>((resolve) => (open = resolve)) };
    a.armed = true;
    const pass = first.punctuateNow();
    await inside;

    // Meanwhile a second member joins and takes partition 1 (the assignment is sticky: a keeps 0).
    const second = await startRunner(new MarkingHandler('b'));
    await waitFor(
      () => second.readiness().ready && (second.readiness().detail.owned as number[]).join() === '1' && (first.readiness().detail.owned as number[]).join() === '0',
      90_000,
      'partition 1 moved from runner a to runner b',
    );
    open();
    await pass;

    const keys = await changelogKeys();
    // The pass committed what a still owns, and nothing of the partition it lost.
    expect(keys.get(0)).toContain('mark:a:0');
    expect(keys.get(1)).not.toContain('mark:a:1');
    expect(second.ownedStores().map((store) => store.partition)).toEqual([1]);
    expect(await second.ownedStores()[0]!.get('mark:a:1')).toBeUndefined();
  });
});
