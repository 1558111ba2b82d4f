import type { Kafka } from 'kafkajs';
import { ErrorCode, errorMessage, StoError } from '../errors.ts';
import type { DeadLetterPublisher } from '../kafka/dead-letter-publisher.ts';
import type { Logger } from '../logger.ts';
import { restoreFromChangelog } from './changelog.ts';
import type { Membership, OwnedPartition } from './membership.ts';
import type { PartitionHandler } from './partition-handler.ts';
import { PartitionStore, type LevelFactory } from './partition-store.ts';
import type { RunnerMetrics } from './runner-metrics.ts';

const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 30_000;

export interface RestoreDeps<S> {
  kafka: Kafka;
  groupId: string;
  changelogTopic: string;
  stateDir: string;
  levelFactory?: LevelFactory;
  handler: PartitionHandler<S>;
  membership: Membership<S>;
  deadLetters: DeadLetterPublisher;
  quarantineTopic: string;
  logger: Logger;
  metrics: RunnerMetrics;
  /** Restores that keep failing for this long make the runner fail (unlive) instead of retrying on. */
  giveUpAfterMs: number;
  isActive(): boolean;
  /** The partitions are restored and ready (their stores open, the handler's state built). */
  onRestored(partitions: OwnedPartition<S>[]): void;
  /** Restore cannot succeed (a store that cannot open, or failures for giveUpAfterMs): the runner fails. */
  onGiveUp(reason: string): void;
}

/**
 * Opens the stores of newly assigned partitions and brings them up to the end of their
 * changelog. A store that cannot open fails the runner at once (retrying cannot fix a locked
 * directory, a corrupt database or a full disk); other failures (the broker) are retried with
 * backoff, each logged, until giveUpAfterMs. A changelog record that cannot be applied is
 * quarantined to the dead-letter topic and the restore goes on.
 */
export class PartitionRestorer<S> {
  readonly #deps: RestoreDeps<S>;

  constructor(deps: RestoreDeps<S>) {
    this.#deps = deps;
  }

  restore(partitions: OwnedPartition<S>[]): void {
    void this.#attempt(partitions, 1, Date.now());
  }

  async #attempt(partitions: OwnedPartition<S>[], attempt: number, firstFailureAt: number): Promise<void> {
    const { logger, metrics, membership, handler } = this.#deps;
    const pending = partitions.filter((owned) => owned.phase === 'restoring' && membership.get(owned.partition) === owned);
    if (pending.length === 0 || !this.#deps.isActive()) return;
    const started = performance.now();
    const numbers = pending.map((owned) => owned.partition);
    try {
      for (const owned of pending) {
        // A retry after a failed restore keeps the store it opened: LevelDB allows one handle.
        owned.store ??= await PartitionStore.open({ baseDir: this.#deps.stateDir, partition: owned.partition, factory: this.#deps.levelFactory });
        // Revoked while opening: the runner's close already ran and saw no store.
        if (owned.phase === 'revoked') await owned.store.close();
      }
      if (pending.some((owned) => owned.phase !== 'restoring')) throw new Error('restore cancelled: partition revoked');
      let quarantined = 0;
      // The cache is filled with what the restore writes (below): an attempt may clear and
      // rebuild its store, so the cache starts empty and holds only what this attempt wrote.
      for (const owned of pending) owned.cache.clear();
      const applied = await restoreFromChangelog({
        kafka: this.#deps.kafka,
        topic: this.#deps.changelogTopic,
        stores: pending.map((owned) => owned.store!),
        groupPrefix: this.#deps.groupId,
        logger,
        isCancelled: () => pending.some((owned) => owned.phase !== 'restoring'),
        // What the restore writes last stays cached (the most recent up to the cache's size), so
        // the first records after it read memory, not LevelDB: right after a restore of 200,000
        // recipients every trigger's recipient was a LevelDB read on a cold block cache.
        onWritten: (partition, puts, recordsAfter) => {
          const cache = pending.find((owned) => owned.partition === partition)?.cache;
          if (!cache) return;
          // Only the writes among the last records, as many as the cache holds: copying and caching
          // all 530,000 records of a restore into a 200,000-entry cache cost 0.5-0.9 s of CPU, most
          // of it for entries evicted before the end. The records still to come only fall, and the
          // cache was emptied at this attempt's start, so no earlier write of these keys is cached.
          if (recordsAfter >= cache.capacity) return;
          // A copy: the fetch's buffers are views into its whole response, which a cached view would keep alive.
          for (const [key, value] of puts) cache.remember(key, value === null ? null : Buffer.from(value));
        },
        quarantine: async (record, reason) => {
          const error = new StoError(ErrorCode.CORRUPT_STATE, `changelog record cannot be restored: ${reason}`);
          await this.#deps.deadLetters.publish({ topic: this.#deps.changelogTopic, ...record }, error, this.#deps.quarantineTopic);
          metrics.quarantined.inc({ source: 'changelog' });
          quarantined++;
          logger.error({ partition: record.partition, offset: record.offset, reason }, 'malformed changelog record quarantined to the dead-letter topic; restore goes on');
        },
      });
      const ready: OwnedPartition<S>[] = [];
      for (const owned of pending) {
        if (owned.phase !== 'restoring') continue;
        owned.state = (await handler.onOpen?.(owned.store!)) as S;
        owned.opened = true;
        if (owned.phase !== 'restoring') continue;
        owned.phase = 'ready';
        ready.push(owned);
      }
      const seconds = (performance.now() - started) / 1000;
      metrics.restoreSeconds.observe(seconds);
      const total = [...applied.values()].reduce((sum, count) => sum + count, 0);
      metrics.restoredRecords.inc(total);
      logger.info({ partitions: numbers, restoredRecords: total, quarantined, seconds: Number(seconds.toFixed(3)) }, 'partitions restored');
      this.#deps.onRestored(ready);
    } catch (error) {
      const failingForMs = Date.now() - firstFailureAt;
      if (error instanceof StoError && error.code === ErrorCode.STORE_FAILURE && !error.retriable) {
        this.#deps.onGiveUp(`state store of partition(s) ${numbers.join(', ')} cannot open: ${errorMessage(error)}`);
        return;
      }
      if (failingForMs >= this.#deps.giveUpAfterMs) {
        this.#deps.onGiveUp(`restore of partition(s) ${numbers.join(', ')} has failed for ${Math.round(failingForMs / 1000)} s (${attempt} attempts): ${errorMessage(error)}`);
        return;
      }
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 1));
      logger.error({ err: error, partitions: numbers, attempt, retryInMs: delay, giveUpInMs: this.#deps.giveUpAfterMs - failingForMs }, 'restore failed; retrying');
      setTimeout(() => void this.#attempt(pending, attempt + 1, firstFailureAt), delay).unref();
    }
  }
}
