import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { MemoryLevel } from 'memory-level';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { applyBatch, SUB_BATCH_BYTES } from '../../../services/shared/stream/batch-applier.ts';
import type { PartitionCommit } from '../../../services/shared/stream/commit-protocol.ts';
import { GroupOffsetCommitter, type GroupOffset } from '../../../services/shared/stream/group-offset-committer.ts';
import type { OwnedPartition } from '../../../services/shared/stream/membership.ts';
import { PartitionLock } from '../../../services/shared/stream/partition-lock.ts';
import type { PartitionHandler } from '../../../services/shared/stream/partition-handler.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { createRunnerMetrics } from '../../../services/shared/stream/runner-metrics.ts';
import { CleanCache } from '../../../services/shared/stream/state-transaction.ts';

async function ownedPartition(): Promise<OwnedPartition> {
  const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
  const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-batch-commits'), partition: 0, factory: () => db as never });
  return { partition: 0, store, cache: new CleanCache(1_000), lock: new PartitionLock(), phase: 'ready', state: undefined, opened: true };
}

function messages(count: number): KafkaMessage[] {
  return Array.from({ length: count }, (_, offset) => ({ key: Buffer.from(`r-${offset}`), value: Buffer.from('x'), offset: String(offset), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage);
}

/** Applies `count` records with `handle`, returning each commit's record count (outputs or state keys) and offsets. */
async function commitsOf(count: number, handle: PartitionHandler['handle']): Promise<{ outputs: number; puts: number; next: number }[]> {
  const owned = await ownedPartition();
  const commits: { outputs: number; puts: number; next: number }[] = [];
  const commit = async ({ store, tx, outputs, offsets }: PartitionCommit) => {
    commits.push({ outputs: outputs.length, puts: tx.dirty.size, next: offsets.t! });
    await store.commit({ puts: tx.dirty, offsets });
    tx.settle();
    return true;
  };
  const handler: PartitionHandler = { handle };
  const deps = { handler, deadLetters: {} as never, logger: {} as never, metrics: createRunnerMetrics(new Registry(), () => []), commit };
  await applyBatch(deps, owned, 't', messages(count), () => true);
  return commits;
}

describe('a fetched batch and its commits', () => {
  it('commits a batch of decisions (outputs, little state) once, however many output bytes it has', async () => {
    // 1,000 outputs of 1 KiB: four times SUB_BATCH_BYTES, which once cut the batch into a commit
    // (two produce round trips and a store write) every 250 or so records.
    const outputValue = Buffer.alloc(1_024, 1);
    const commits = await commitsOf(1_000, async (_topic, message, _tx, emit) => {
      emit({ topic: 'out', message: { key: message.key, value: outputValue } });
    });
    expect(1_000 * outputValue.length).toBeGreaterThan(SUB_BATCH_BYTES * 3);
    expect(commits).toEqual([{ outputs: 1_000, puts: 0, next: 1_000 }]);
  });

  it('still commits in steps when the state changed exceeds SUB_BATCH_BYTES, each step under it', async () => {
    const stateValue = Buffer.alloc(1_024, 2);
    const commits = await commitsOf(1_000, async (_topic, message, tx) => {
      tx.put(`s:${message.offset}`, stateValue);
    });
    expect(commits.length).toBeGreaterThan(3);
    expect(commits.reduce((sum, step) => sum + step.puts, 0)).toBe(1_000);
    for (const step of commits) expect(step.puts * stateValue.length).toBeLessThanOrEqual(SUB_BATCH_BYTES + stateValue.length * 2);
    expect(commits.at(-1)!.next).toBe(1_000);
  });
});

describe('group offset committer', () => {
  function deferredCommits() {
    const calls: { offsets: GroupOffset[]; settle: (error?: Error) => void }[] = [];
    const commit = (offsets: GroupOffset[]) => new Promise<void>((resolve, reject) => calls.push({ offsets, settle: (error) => (error ? reject(error) : resolve()) }));
    return { calls, commit };
  }
  const offset = (partition: number, value: number): GroupOffset => ({ topic: 't', partition, offset: String(value) });
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('does not make the caller wait: one request in flight, the latest offset of each partition next', async () => {
    const { calls, commit } = deferredCommits();
    const errors: unknown[] = [];
    const committer = new GroupOffsetCommitter(commit, (error) => errors.push(error));
    committer.record(offset(0, 10));
    await turn();
    expect(calls.map((call) => call.offsets)).toEqual([[offset(0, 10)]]);
    // While the first request is out: three more batches of two partitions, nothing sent yet.
    committer.record(offset(0, 20));
    committer.record(offset(1, 5));
    committer.record(offset(0, 30));
    await turn();
    expect(calls).toHaveLength(1);
    calls[0]!.settle();
    await turn();
    expect(calls.map((call) => call.offsets)).toEqual([[offset(0, 10)], [offset(0, 30), offset(1, 5)]]);
    // A failed request is reported and does not stop later ones.
    calls[1]!.settle(new Error('coordinator moved'));
    await turn();
    expect(errors).toHaveLength(1);
    committer.record(offset(1, 6));
    await turn();
    calls[2]!.settle();
    await committer.idle();
    expect(calls.map((call) => call.offsets).at(-1)).toEqual([offset(1, 6)]);
  });

  it('idle waits for the request in flight and for what was recorded meanwhile', async () => {
    const { calls, commit } = deferredCommits();
    const committer = new GroupOffsetCommitter(commit, () => undefined);
    committer.record(offset(0, 1));
    await turn();
    let idle = false;
    const waiting = committer.idle().then(() => (idle = true));
    committer.record(offset(0, 2));
    calls[0]!.settle();
    await turn();
    expect(idle).toBe(false);
    expect(calls).toHaveLength(2);
    calls[1]!.settle();
    await waiting;
    expect(idle).toBe(true);
  });
});
