import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { deadLetterTopic } from '../config/common-config.ts';
import { errorMessage } from '../errors.ts';
import type { DeadLetterPublisher } from '../kafka/dead-letter-publisher.ts';
import type { Logger } from '../logger.ts';
import { applyBatch } from './batch-applier.ts';
import { coPartitionedAssigner } from './co-partitioned-assigner.ts';
import { commitPartitions, type PartitionCommit } from './commit-protocol.ts';
import { GroupOffsetCommitter } from './group-offset-committer.ts';
import { LoopWatchdog } from './loop-watchdog.ts';
import { Membership, type OwnedPartition } from './membership.ts';
import type { PartitionHandler, Punctuator } from './partition-handler.ts';
import { PartitionRestorer } from './partition-restorer.ts';
import type { LevelFactory, PartitionStore } from './partition-store.ts';
import { PunctuationScheduler } from './punctuation-scheduler.ts';
import { RunnerLifecycle } from './runner-lifecycle.ts';
import { createRunnerMetrics, type RunnerMetrics } from './runner-metrics.ts';
import type { TimerApi } from './wake-up-timer.ts';

export type { Emit, OutgoingRecord, PartitionHandler, PunctuationContext, Punctuator } from './partition-handler.ts';
export { requestChunks } from './commit-protocol.ts';

/** Kafka's group session timeout when none is configured (the broker's minimum is 6 s by default). */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
/** How long the loop may make no progress before the runner counts as not live, unless configured. */
export const DEFAULT_LIVENESS_STALL_MS = 120_000;
/** While joining, why the member waits is logged this often. */
const JOIN_WAIT_LOG_MS = 3_000;

export interface PartitionedRunnerOptions<S = unknown> {
  kafka: Kafka;
  producer: Producer;
  groupId: string;
  instanceId: string;
  topics: string[];
  changelogTopic: string;
  stateDir: string;
  cacheEntries: number;
  handler: PartitionHandler<S>;
  deadLetters: DeadLetterPublisher;
  logger: Logger;
  registry: Registry;
  levelFactory?: LevelFactory;
  /** fsync each state batch (slower; survives power loss, not only process crashes). */
  syncWrites?: boolean;
  /** The group session timeout: how long a crashed member keeps its partitions (and blocks a restarted one). */
  sessionTimeoutMs?: number;
  /** No loop progress (or failing restores or punctuations) for this long makes the runner not live. */
  livenessStallMs?: number;
  /** The clock of punctuations, and how fast it runs against real time (the demo's accelerated clock). */
  clock?: () => number;
  clockRate?: number;
  timers?: TimerApi;
  /** The consumer stopped for good (an error kafkajs does not retry): the service should exit. */
  onFatal?: (error: Error) => void;
  /** This instance's admin server address, advertised in the group's member metadata. */
  adminUrl?: string | null;
  /** A rebalance began or an assignment arrived (who owns which partition may have changed). */
  onMembershipChange?: () => void;
}

/** The answer of `readPartition`: the reader's result, or why the partition cannot be read here now. */
export type PartitionRead<T> = { ok: true; value: T } | { ok: false; reason: 'not-owned' | 'restoring' | 'rebalancing' };

/**
 * A consumer-group member that owns partition numbers across co-partitioned topics, keeps one
 * LevelDB store per owned partition, restores it from a compacted changelog before processing
 * anything of that partition, applies each fetched batch exactly once in effect (outputs and
 * changelog first, then state and consumed offsets in one atomic batch), and runs the handler's
 * timed work (punctuations) for the partitions it owns under the same locks and commit protocol.
 * Membership, restore, locks, batch apply, commit, punctuation and metrics live in their own files.
 */
export class PartitionedRunner<S = unknown> {
  readonly #options: PartitionedRunnerOptions<S>;
  readonly #consumer: Consumer;
  readonly #membership: Membership<S>;
  readonly #lifecycle = new RunnerLifecycle();
  readonly #metrics: RunnerMetrics;
  readonly #watchdog: LoopWatchdog;
  readonly #restorer: PartitionRestorer<S>;
  readonly #punctuation: PunctuationScheduler<S> | null;
  readonly #sessionTimeoutMs: number;
  readonly #groupOffsets: GroupOffsetCommitter;
  #stopped: Promise<void> | null = null;
  #stallReported = false;

  constructor(options: PartitionedRunnerOptions<S>) {
    this.#options = options;
    this.#membership = new Membership<S>(options.cacheEntries);
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      partitionAssigners: [coPartitionedAssigner({ instanceId: options.instanceId, owned: () => this.#membership.partitions(), adminUrl: options.adminUrl ?? null })],
      sessionTimeout: this.#sessionTimeoutMs,
      // Kafka's advice: at most a third of the session timeout.
      heartbeatInterval: Math.min(3_000, Math.floor(this.#sessionTimeoutMs / 3)),
      maxBytesPerPartition: 2 * 1024 * 1024,
      // While partitions are paused (restoring) or idle, a fetch waits this long at most:
      // the kafkajs default of 5 s would delay the first records after every assignment.
      maxWaitTimeInMs: 250,
      retry: { retries: 10 },
    });
    this.#groupOffsets = new GroupOffsetCommitter(
      (offsets) => this.#consumer.commitOffsets(offsets),
      (error) => options.logger.debug({ err: error }, 'group offset commit failed (advisory only)'),
    );
    this.#metrics = createRunnerMetrics(options.registry, () => this.#membership.all().flatMap((owned) => (owned.store ? [owned.store] : [])));
    this.#watchdog = new LoopWatchdog(options.livenessStallMs ?? DEFAULT_LIVENESS_STALL_MS);
    const quarantineTopic = deadLetterTopic(options.topics[0]!);
    this.#restorer = new PartitionRestorer<S>({
      kafka: options.kafka,
      groupId: options.groupId,
      changelogTopic: options.changelogTopic,
      stateDir: options.stateDir,
      ...(options.levelFactory ? { levelFactory: options.levelFactory } : {}),
      handler: options.handler,
      membership: this.#membership,
      deadLetters: options.deadLetters,
      quarantineTopic,
      logger: options.logger,
      metrics: this.#metrics,
      giveUpAfterMs: options.livenessStallMs ?? DEFAULT_LIVENESS_STALL_MS,
      isActive: () => this.#lifecycle.active,
      onRestored: (ready) => this.#onRestored(ready),
      onGiveUp: (reason) => this.#fail(reason),
    });
    const punctuator = options.handler.punctuator;
    this.#punctuation = punctuator
      ? new PunctuationScheduler<S>({
          handler: options.handler as PartitionHandler<S> & { punctuator: Punctuator<S> },
          membership: this.#membership,
          logger: options.logger,
          metrics: this.#metrics,
          deadLetters: options.deadLetters,
          quarantineTopic,
          stateTopic: options.changelogTopic,
          clock: options.clock ?? Date.now,
          clockRate: options.clockRate ?? 1,
          ...(options.timers ? { timers: options.timers } : {}),
          commit: (commits) => this.#commit(commits),
          isActive: () => this.#lifecycle.phase === 'running',
          watchdog: this.#watchdog,
        })
      : null;
  }

  async start(): Promise<void> {
    const consumer = this.#consumer;
    const { logger } = this.#options;
    if (!this.#lifecycle.to('joining')) return;
    consumer.on(consumer.events.REBALANCING, () => {
      // kafkajs is about to rejoin: from its JoinGroup on, another member may own our partitions.
      this.#membership.fence();
      this.#options.onMembershipChange?.();
      logger.info({ groupId: this.#options.groupId }, 'group rebalancing: commits paused until the new assignment');
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (this.#lifecycle.to('running')) this.#watchdog.reset();
      this.#onAssignment(event.payload.memberAssignment);
      this.#options.onMembershipChange?.();
    });
    consumer.on(consumer.events.FETCH, () => this.#watchdog.fetched());
    consumer.on(consumer.events.CRASH, (event) => {
      logger.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
      // kafkajs restarts the consumer after retriable errors; after any other it stays stopped,
      // and a process that no longer consumes must not look alive.
      if (!event.payload.restart && this.#fail(`consumer stopped: ${errorMessage(event.payload.error)}`)) this.#options.onFatal?.(event.payload.error);
    });
    await consumer.connect();
    for (const topic of this.#options.topics) await consumer.subscribe({ topic, fromBeginning: true });
    this.#logJoinWait();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
  }

  /**
   * Until the first assignment, says why the member waits: after a crash the group keeps the dead
   * member until its session timeout expires, and the rebalance cannot finish before.
   */
  #logJoinWait(): void {
    const startedAt = Date.now();
    // The consumer's own connection to the coordinator is busy with the parked JoinGroup (a
    // broker answers one request per connection at a time): describe the group on another one.
    let admin: ReturnType<Kafka['admin']> | null = null;
    const describe = async () => {
      admin ??= this.#options.kafka.admin();
      await admin.connect();
      const { groups } = await admin.describeGroups([this.#options.groupId]);
      return groups[0] ?? null;
    };
    const tick = async () => {
      if (this.#lifecycle.phase !== 'joining') {
        await admin?.disconnect().catch(() => undefined);
        return;
      }
      const group = await Promise.race([describe(), new Promise<null>((resolve) => setTimeout(() => resolve(null), 1_000).unref())]).catch(() => null);
      if (this.#lifecycle.phase !== 'joining') return void (await admin?.disconnect().catch(() => undefined));
      this.#options.logger.warn(
        {
          groupId: this.#options.groupId,
          waitingMs: Date.now() - startedAt,
          groupState: group?.state ?? 'unknown',
          members: group?.members.map((member) => `${member.clientId}@${member.clientHost}`) ?? [],
          sessionTimeoutMs: this.#sessionTimeoutMs,
        },
        'waiting to join the consumer group: a member that stopped without leaving (a crash) keeps its place until its session timeout expires, and the rebalance waits for it',
      );
      setTimeout(() => void tick(), JOIN_WAIT_LOG_MS).unref();
    };
    setTimeout(() => void tick(), JOIN_WAIT_LOG_MS).unref();
  }

  /** Readiness: running, joined, and every owned partition restored. */
  readiness(): { ready: boolean; detail: Record<string, unknown> } {
    const restoring = this.#membership.restoring();
    const ready = this.#lifecycle.phase === 'running' && this.#membership.joined && restoring.length === 0;
    return { ready, detail: { phase: this.#lifecycle.phase, joined: this.#membership.joined, owned: this.#membership.partitions(), restoring } };
  }

  /** Liveness: not failed or stopped, and the loop (and restores, punctuations) making progress. */
  isLive(): boolean {
    return this.livenessProblem() === null;
  }

  /** Why the runner is not live, or null. A stall is logged once, when first seen. */
  livenessProblem(): string | null {
    const { phase, reason } = this.#lifecycle;
    if (phase === 'failed') return reason;
    if (phase === 'stopping' || phase === 'stopped') return `runner ${phase}`;
    if (phase !== 'running') return null;
    const stall = this.#watchdog.stalled();
    if (stall && !this.#stallReported) this.#options.logger.error({ reason: stall }, 'not live: /livez fails until the loop makes progress again');
    this.#stallReported = stall !== null;
    return stall;
  }

  /**
   * Runs a read-only `read` of a partition's committed state under its lock (between batches and
   * punctuations, so it sees whole commits), only while this instance owns the partition, has
   * restored it and no rebalance is under way; otherwise says why not. `read` must not write.
   */
  async readPartition<T>(partition: number, read: (store: PartitionStore) => Promise<T>): Promise<PartitionRead<T>> {
    const why = (): PartitionRead<T> | null => {
      const owned = this.#membership.get(partition);
      if (!owned || this.#lifecycle.phase !== 'running') return { ok: false, reason: 'not-owned' };
      if (owned.phase === 'restoring') return { ok: false, reason: 'restoring' };
      return this.#membership.owns(owned) ? null : { ok: false, reason: 'rebalancing' };
    };
    const before = why();
    if (before) return before;
    const owned = this.#membership.get(partition)!;
    return owned.lock.run(async () => {
      // Checked again under the lock: a rebalance or a close may have come first.
      const under = why();
      if (under || this.#membership.get(partition) !== owned) return under ?? { ok: false, reason: 'rebalancing' };
      return { ok: true, value: await read(owned.store!) };
    });
  }

  ownedStores(): PartitionStore[] {
    return this.#membership.ready().map((owned) => owned.store!);
  }

  /** Runs a punctuation pass now (tests; the runner's timers do this on their own). */
  punctuateNow(): Promise<void> {
    return this.#punctuation?.runPasses() ?? Promise.resolve();
  }

  /** Marks the runner failed (once); returns whether this call did. */
  #fail(reason: string): boolean {
    if (!this.#lifecycle.to('failed', reason)) return false;
    this.#options.logger.error({ reason }, 'runner failed: /livez now fails');
    // Nothing more is processed: without a pause the loop would fetch the same records again and again.
    this.#consumer.pause(this.#options.topics.map((topic) => ({ topic })));
    return true;
  }

  #onAssignment(assignment: Record<string, number[]>): void {
    const { next, added, revoked } = this.#membership.assign(assignment, this.#options.topics);
    this.#options.logger.info({ owned: next, added: added.map((owned) => owned.partition), revoked: revoked.map((owned) => owned.partition) }, 'assignment');
    for (const owned of revoked) void this.#close(owned);
    // A pass that ran while the rebalance fenced every partition dropped its work without
    // re-arming: the partitions kept get their wake-ups again.
    for (const owned of this.#membership.ready()) void this.#punctuation?.rearm(owned);
    if (added.length > 0) {
      this.#consumer.pause(this.#options.topics.map((topic) => ({ topic, partitions: added.map((owned) => owned.partition) })));
      this.#restorer.restore(added);
    }
    // kafkajs may forget pauses across a rejoin: keep partitions that are still restoring paused.
    const restoring = this.#membership.restoring();
    if (restoring.length > 0) this.#consumer.pause(this.#options.topics.map((topic) => ({ topic, partitions: restoring })));
    this.#metrics.ownedPartitions.set(next.length);
  }

  #onRestored(ready: OwnedPartition<S>[]): void {
    if (this.#lifecycle.phase !== 'running') return;
    for (const owned of ready) {
      for (const topic of this.#options.topics) this.#consumer.seek({ topic, partition: owned.partition, offset: String(owned.store!.nextOffset(topic)) });
    }
    if (ready.length > 0) this.#consumer.resume(this.#options.topics.map((topic) => ({ topic, partitions: ready.map((owned) => owned.partition) })));
    for (const owned of ready) void this.#punctuation?.rearm(owned);
  }

  /** Closes a revoked partition once its in-flight batch or punctuation is done. */
  async #close(owned: OwnedPartition<S>): Promise<void> {
    this.#punctuation?.disarm(owned.partition);
    await owned.lock.run(async () => {
      if (owned.opened) await this.#options.handler.onClose?.(owned.partition, owned.state as S);
      owned.opened = false;
      owned.state = undefined;
      await owned.store?.close();
    });
  }

  #commit(commits: PartitionCommit[]): Promise<number[]> {
    return commitPartitions({ producer: this.#options.producer, changelogTopic: this.#options.changelogTopic, syncWrites: this.#options.syncWrites ?? false }, commits, (partition) => {
      const owned = this.#membership.get(partition);
      return owned !== undefined && this.#membership.owns(owned);
    });
  }

  async #eachBatch({ batch, resolveOffset, isRunning, isStale, heartbeat }: EachBatchPayload): Promise<void> {
    const owned = this.#membership.get(batch.partition);
    if (!owned || !this.#membership.owns(owned) || this.#lifecycle.phase !== 'running') return;
    const timer = this.#metrics.batchSeconds.startTimer();
    try {
      try {
        await owned.lock.run(() =>
          applyBatch(
            {
              handler: this.#options.handler,
              deadLetters: this.#options.deadLetters,
              logger: this.#options.logger,
              metrics: this.#metrics,
              commit: async (commit) => (await this.#commit([commit])).length === 1,
            },
            owned,
            batch.topic,
            batch.messages,
            () => isRunning() && !isStale() && this.#lifecycle.phase === 'running',
          ),
        );
        this.#watchdog.batchSucceeded();
      } catch (error) {
        if (owned.opened) this.#options.handler.onAbort?.(batch.partition, owned.state as S);
        this.#watchdog.batchFailed(errorMessage(error));
        throw error;
      }
      void this.#punctuation?.rearm(owned);
      const last = batch.messages.at(-1);
      if (last && isRunning() && !isStale()) {
        resolveOffset(last.offset);
        // The store's offsets are the truth; the group's committed offsets (autoCommit is off, so
        // commitOffsetsIfNecessary would not write them) are for lag tools and dashboards, written
        // in the background.
        this.#groupOffsets.record({ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) });
        // A stop leaves the group once this batch returns: its offsets are written before that.
        if (this.#lifecycle.phase !== 'running') await this.#groupOffsets.idle();
        await heartbeat();
      }
      this.#metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    } finally {
      timer();
    }
  }

  /** Idempotent: not ready, no more punctuations, stop fetching (leaving the group), wait for in-flight work, close stores. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#lifecycle.to('stopping');
      this.#punctuation?.stop();
      await this.#groupOffsets.idle();
      await this.#consumer.disconnect().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'consumer disconnect failed'));
      await this.#punctuation?.idle();
      for (const owned of this.#membership.releaseAll()) await this.#close(owned);
      this.#lifecycle.to('stopped');
    })();
    return this.#stopped;
  }
}
