import type { KafkaMessage } from 'kafkajs';
import { errorDisposition, errorMessage } from '../errors.ts';
import type { DeadLetterPublisher } from '../kafka/dead-letter-publisher.ts';
import type { Logger } from '../logger.ts';
import type { PartitionCommit } from './commit-protocol.ts';
import type { OwnedPartition } from './membership.ts';
import type { OutgoingRecord, PartitionHandler } from './partition-handler.ts';
import type { RunnerMetrics } from './runner-metrics.ts';
import { StateTransaction } from './state-transaction.ts';

/**
 * State bytes after which a fetched batch is committed in steps: its changelog (plus the
 * aggregates written back at commit) stays one record batch under the broker's limit.
 */
export const SUB_BATCH_BYTES = 256 * 1024;
/**
 * Output bytes after which a fetched batch is committed in steps. Outputs are not in the
 * changelog (they go out in as many requests as they need), so this only bounds how many one
 * commit covers; counted with the state, they cut a batch of decisions, which change little
 * state, into a commit (a changelog round trip and a store write) every 480 or so triggers: 16
 * commits for a fetched batch of 7,772 triggers in a traced burst.
 */
export const SUB_BATCH_OUTPUT_BYTES = 4 * 1024 * 1024;

export interface BatchDeps<S> {
  handler: PartitionHandler<S>;
  deadLetters: DeadLetterPublisher;
  logger: Logger;
  metrics: RunnerMetrics;
  /** Commits one partition's share; false when the partition was lost first (nothing of it written but outputs). */
  commit(commit: PartitionCommit): Promise<boolean>;
}

/**
 * Applies one fetched batch of one owned partition (the caller holds its lock): records at or
 * past the store's offset go through the handler; a record whose error is not retriable goes to
 * the dead-letter topic; the rest of the errors abort the batch, to be retried from its first
 * unapplied record. Commits in steps of SUB_BATCH_BYTES.
 */
export async function applyBatch<S>(deps: BatchDeps<S>, owned: OwnedPartition<S>, topic: string, messages: KafkaMessage[], isActive: () => boolean): Promise<void> {
  const { handler, deadLetters, logger, metrics } = deps;
  const store = owned.store!;
  const state = owned.state as S;
  let tx = new StateTransaction(store, owned.cache);
  let outputs: OutgoingRecord[] = [];
  let outputBytes = 0;
  const emit = (record: OutgoingRecord) => {
    outputs.push(record);
    outputBytes += (record.message.value?.length ?? 0) + 64;
  };
  const firstUnapplied = store.nextOffset(topic);
  let nextOffset: number | null = null;
  let applied = 0;
  let skipped = 0;
  let deadLettered = 0;
  const hitsBefore = owned.cache.hits;
  const missesBefore = owned.cache.misses;
  if (handler.stateKeys) {
    const keys = new Set<string>();
    for (const message of messages) {
      if (Number(message.offset) < firstUnapplied) continue;
      for (const key of handler.stateKeys(topic, message)) keys.add(key);
    }
    await tx.prefetch(keys);
  }
  // One commit = one atomic changelog record batch: restore must never see part of a commit,
  // and the broker refuses record batches over max.message.bytes (1 MiB by default).
  const commitSoFar = async (): Promise<boolean> => {
    if (nextOffset === null) return true;
    handler.beforeCommit?.(tx, state);
    if (!(await deps.commit({ store, tx, outputs, offsets: { [topic]: nextOffset } }))) {
      handler.onAbort?.(store.partition, state);
      return false;
    }
    if (applied > 0) metrics.records.inc({ topic, outcome: 'applied' }, applied);
    if (deadLettered > 0) metrics.records.inc({ topic, outcome: 'dead_lettered' }, deadLettered);
    applied = 0;
    deadLettered = 0;
    handler.afterCommit?.(store.partition, state);
    tx = new StateTransaction(store, owned.cache);
    outputs = [];
    outputBytes = 0;
    nextOffset = null;
    return true;
  };
  for (const message of messages) {
    if (!isActive() || owned.phase !== 'ready') break;
    const offset = Number(message.offset);
    if (offset < firstUnapplied) {
      skipped++;
      continue;
    }
    try {
      await handler.handle(topic, message, tx, emit, state);
      applied++;
    } catch (error) {
      if (errorDisposition(error) === 'retry') throw error;
      await deadLetters.publish(
        { topic, partition: store.partition, offset: message.offset, timestamp: message.timestamp, key: message.key, value: message.value, headers: message.headers },
        error,
      );
      deadLettered++;
      logger.warn({ topic, partition: store.partition, offset: message.offset, code: (error as { code?: string }).code, reason: errorMessage(error) }, 'record dead-lettered');
    }
    nextOffset = offset + 1;
    if ((tx.bytes > SUB_BATCH_BYTES || outputBytes > SUB_BATCH_OUTPUT_BYTES) && !(await commitSoFar())) return;
  }
  metrics.cacheHits.inc(owned.cache.hits - hitsBefore);
  metrics.cacheMisses.inc(owned.cache.misses - missesBefore);
  if (skipped > 0) metrics.records.inc({ topic, outcome: 'replay_skipped' }, skipped);
  await commitSoFar();
}
