import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { errorMessage, isInputError } from '../errors.ts';
import type { DeadLetterPublisher } from '../kafka/dead-letter-publisher.ts';
import type { Logger } from '../logger.ts';
import { changelogMessages, restoreFromChangelog } from './changelog.ts';
import { coPartitionedAssigner } from './co-partitioned-assigner.ts';
import { PartitionStore, type LevelFactory } from './partition-store.ts';
import { CleanCache, StateTransaction } from './state-transaction.ts';

export interface OutgoingRecord {
  topic: string;
  message: Message;
}

/** What a service plugs into the runner: how one input record changes state and what it emits. */
export interface PartitionHandler {
  /** Throw an InputError for records that belong in the dead-letter topic; any other error is retried. */
  handle(topic: string, message: KafkaMessage, tx: StateTransaction, emit: (record: OutgoingRecord) => void): Promise<void>;
  /** The store keys a record will read, if known from its key alone: a batch's reads become one. */
  stateKeys?(topic: string, message: KafkaMessage): readonly string[];
  /** Called before the batch's state is committed: write back state kept decoded in memory. */
  beforeCommit?(tx: StateTransaction): void;
  /** Called when a batch failed and its changes were discarded: drop state kept in memory. */
  onAbort?(partition: number): void;
  /** Called after the batch's state is committed (e.g. to wake a timer). */
  afterCommit?(partition: number): void;
  /** Called when the partition's store is opened (after restore) and before it is closed. */
  onOpen?(store: PartitionStore): Promise<void> | void;
  onClose?(partition: number): Promise<void> | void;
}

export interface PartitionedRunnerOptions {
  service: string;
  kafka: Kafka;
  producer: Producer;
  groupId: string;
  instanceId: string;
  topics: string[];
  changelogTopic: string;
  stateDir: string;
  cacheEntries: number;
  handler: PartitionHandler;
  deadLetters: DeadLetterPublisher;
  logger: Logger;
  registry: Registry;
  levelFactory?: LevelFactory;
  /** fsync each state batch (slower; survives power loss, not only process crashes). */
  syncWrites?: boolean;
  sessionTimeoutMs?: number;
  onReadyChange?: (ready: boolean) => void;
  /** The consumer stopped for good (an error kafkajs does not retry): the service should exit. */
  onFatal?: (error: Error) => void;
}

interface OwnedPartition {
  partition: number;
  store: PartitionStore | null;
  cache: CleanCache;
  ready: boolean;
  revoked: boolean;
  busy: Promise<void>;
}

/**
 * A consumer-group member that owns partition numbers across co-partitioned topics, keeps one
 * LevelDB store per owned partition, restores it from a compacted changelog before processing
 * anything of that partition, and applies each fetched batch exactly once in effect: outputs and
 * changelog are produced first, then state + consumed offsets are written in one atomic batch.
 */
export class PartitionedRunner {
  readonly #options: PartitionedRunnerOptions;
  readonly #consumer: Consumer;
  readonly #owned = new Map<number, OwnedPartition>();
  readonly #metrics;
  #joined = false;
  #running = false;
  #stopping: Promise<void> | null = null;
  #failed = false;
  #lastLoopAt = Date.now();

  constructor(options: PartitionedRunnerOptions) {
    this.#options = options;
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      partitionAssigners: [coPartitionedAssigner({ instanceId: options.instanceId, owned: () => [...this.#owned.keys()] })],
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 2 * 1024 * 1024,
      // While partitions are paused (restoring) or idle, a fetch waits this long at most:
      // the kafkajs default of 5 s would delay the first records after every assignment.
      maxWaitTimeInMs: 250,
      retry: { retries: 10 },
    });
    const registry = options.registry;
    this.#metrics = {
      records: new Counter({ name: 'sto_stream_records_total', help: 'Input records by topic and outcome.', labelNames: ['topic', 'outcome'], registers: [registry] }),
      batchSeconds: new Histogram({
        name: 'sto_stream_batch_seconds',
        help: 'Time to process and commit one fetched batch.',
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      }),
      lag: new Gauge({ name: 'sto_consumer_lag', help: 'Records behind the high watermark, per input topic and partition.', labelNames: ['topic', 'partition'], registers: [registry] }),
      restoreSeconds: new Histogram({
        name: 'sto_state_restore_seconds',
        help: 'Time to restore partition stores from the changelog on assignment.',
        buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
        registers: [registry],
      }),
      restoredRecords: new Counter({ name: 'sto_state_restored_records_total', help: 'Changelog records applied during restores.', registers: [registry] }),
      ownedPartitions: new Gauge({ name: 'sto_owned_partitions', help: 'Partition numbers owned by this instance.', registers: [registry] }),
      cacheHits: new Counter({ name: 'sto_state_cache_hits_total', help: 'State reads served by the write-back cache.', registers: [registry] }),
      cacheMisses: new Counter({ name: 'sto_state_cache_misses_total', help: 'State reads that went to LevelDB.', registers: [registry] }),
    };
    const stores = () => [...this.#owned.values()].flatMap((owned) => (owned.store ? [owned.store] : []));
    new Gauge({
      name: 'sto_state_store_bytes',
      help: 'Approximate on-disk bytes of the partition stores.',
      registers: [registry],
      async collect() {
        let total = 0;
        for (const store of stores()) total += await store.approximateBytes().catch(() => 0);
        this.set(total);
      },
    });
  }

  async start(): Promise<void> {
    const { consumer } = { consumer: this.#consumer };
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#joined = true;
      this.#onAssignment(event.payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.#options.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
      // kafkajs restarts the consumer after retriable errors; after any other it stays stopped,
      // and a process that no longer consumes must not look alive.
      if (!event.payload.restart && this.#stopping === null) {
        this.#failed = true;
        this.#options.onFatal?.(event.payload.error);
      }
    });
    await consumer.connect();
    for (const topic of this.#options.topics) await consumer.subscribe({ topic, fromBeginning: true });
    this.#running = true;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
  }

  /** Readiness: joined, and every owned partition restored. */
  readiness(): { ready: boolean; detail: Record<string, unknown> } {
    const pending = [...this.#owned.values()].filter((owned) => !owned.ready).map((owned) => owned.partition);
    const ready = this.#running && this.#joined && pending.length === 0;
    return { ready, detail: { joined: this.#joined, owned: [...this.#owned.keys()].sort((a, b) => a - b), restoring: pending } };
  }

  isLive(): boolean {
    return this.#stopping === null && !this.#failed;
  }

  ownedStores(): PartitionStore[] {
    return [...this.#owned.values()].flatMap((owned) => (owned.ready && owned.store ? [owned.store] : []));
  }

  #onAssignment(assignment: Record<string, number[]>): void {
    const next = new Set<number>();
    for (const topic of this.#options.topics) for (const partition of assignment[topic] ?? []) next.add(partition);
    const revoked = [...this.#owned.keys()].filter((partition) => !next.has(partition));
    const added = [...next].filter((partition) => !this.#owned.has(partition));
    this.#options.logger.info({ owned: [...next].sort((a, b) => a - b), added, revoked }, 'assignment');
    for (const partition of revoked) void this.#release(partition);
    if (added.length > 0) {
      for (const partition of added) {
        this.#owned.set(partition, {
          partition,
          store: null,
          cache: new CleanCache(this.#options.cacheEntries),
          ready: false,
          revoked: false,
          busy: Promise.resolve(),
        });
      }
      this.#consumer.pause(this.#options.topics.map((topic) => ({ topic, partitions: added })));
      this.#options.onReadyChange?.(false);
      void this.#restore(added);
    } else {
      // kafkajs may forget pauses across a rejoin: keep partitions that are still restoring paused.
      const restoring = [...this.#owned.values()].filter((owned) => !owned.ready).map((owned) => owned.partition);
      if (restoring.length > 0) this.#consumer.pause(this.#options.topics.map((topic) => ({ topic, partitions: restoring })));
    }
    this.#metrics.ownedPartitions.set(next.size);
  }

  async #restore(partitions: number[]): Promise<void> {
    const { logger } = this.#options;
    const started = performance.now();
    try {
      const opened: PartitionStore[] = [];
      for (const partition of partitions) {
        const owned = this.#owned.get(partition);
        if (!owned || owned.revoked) continue;
        // A retry after a failed restore keeps the store it opened: LevelDB allows one handle.
        owned.store ??= await PartitionStore.open({ baseDir: this.#options.stateDir, partition, factory: this.#options.levelFactory });
        opened.push(owned.store);
      }
      const applied = await restoreFromChangelog({
        kafka: this.#options.kafka,
        topic: this.#options.changelogTopic,
        stores: opened,
        groupPrefix: this.#options.groupId,
        logger,
        isCancelled: () => partitions.some((partition) => this.#owned.get(partition)?.revoked ?? true),
      });
      for (const store of opened) {
        const owned = this.#owned.get(store.partition);
        if (!owned || owned.revoked) continue;
        await this.#options.handler.onOpen?.(store);
        for (const topic of this.#options.topics) {
          this.#consumer.seek({ topic, partition: store.partition, offset: String(store.nextOffset(topic)) });
        }
        owned.ready = true;
      }
      const seconds = (performance.now() - started) / 1000;
      this.#metrics.restoreSeconds.observe(seconds);
      const total = [...applied.values()].reduce((sum, count) => sum + count, 0);
      this.#metrics.restoredRecords.inc(total);
      logger.info({ partitions, restoredRecords: total, seconds: Number(seconds.toFixed(3)) }, 'partitions restored');
      const ready = partitions.filter((partition) => this.#owned.get(partition)?.ready);
      if (ready.length > 0) this.#consumer.resume(this.#options.topics.map((topic) => ({ topic, partitions: ready })));
      if (this.readiness().ready) this.#options.onReadyChange?.(true);
    } catch (error) {
      logger.error({ err: error, partitions }, 'restore failed; retrying in 2 s');
      setTimeout(() => {
        const retry = partitions.filter((partition) => {
          const owned = this.#owned.get(partition);
          return owned && !owned.revoked && !owned.ready;
        });
        if (retry.length > 0 && this.#stopping === null) void this.#restore(retry);
      }, 2_000).unref();
    }
  }

  async #release(partition: number): Promise<void> {
    const owned = this.#owned.get(partition);
    if (!owned) return;
    owned.revoked = true;
    owned.ready = false;
    this.#owned.delete(partition);
    await owned.busy.catch(() => undefined);
    await this.#options.handler.onClose?.(partition);
    await owned.store?.close();
  }

  /**
   * Runs `mutate` on the state of several partitions outside of consumption (the delay service
   * releasing due sends), under the same per-partition locks (taken in ascending order) and with
   * the same commit order as a batch: all outputs first, then every changed partition's changelog
   * in one request (one record batch per partition, each whole or not at all), then each store
   * batch. Two produce round trips in all, however many partitions. Returns the partitions that
   * were owned and ready.
   */
  async runExclusiveMany(partitions: readonly number[], mutate: (tx: StateTransaction, emit: (record: OutgoingRecord) => void) => Promise<void>): Promise<number[]> {
    if (this.#stopping) return [];
    const candidates = [...new Set(partitions)].sort((a, b) => a - b).flatMap((partition) => {
      const owned = this.#owned.get(partition);
      return owned && owned.ready && owned.store && !owned.revoked ? [owned] : [];
    });
    const unlocks: (() => void)[] = [];
    try {
      for (const owned of candidates) unlocks.push(await this.#lock(owned));
      const work: { owned: OwnedPartition; store: PartitionStore; tx: StateTransaction; outputs: OutgoingRecord[] }[] = [];
      for (const owned of candidates) {
        if (!owned.ready || !owned.store || owned.revoked) continue;
        const entry = { owned, store: owned.store, tx: new StateTransaction(owned.store, owned.cache), outputs: [] as OutgoingRecord[] };
        await mutate(entry.tx, (record) => entry.outputs.push(record));
        work.push(entry);
      }
      const changed = work.filter((entry) => entry.tx.dirty.size > 0 || entry.outputs.length > 0);
      if (changed.length > 0) await this.#commitMany(changed.map(({ store, tx, outputs }) => ({ store, tx, outputs, offsets: {} })));
      return work.map((entry) => entry.owned.partition);
    } finally {
      for (const unlock of unlocks) unlock();
    }
  }

  /** Waits for the partition's lock; returns the function that releases it. */
  async #lock(owned: OwnedPartition): Promise<() => void> {
    let release!: () => void;
    const previous = owned.busy;
    owned.busy = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    return release;
  }

  async #withLock<T>(owned: OwnedPartition, work: () => Promise<T>): Promise<T> {
    const unlock = await this.#lock(owned);
    try {
      return await work();
    } finally {
      unlock();
    }
  }

  async #eachBatch({ batch, resolveOffset, isRunning, isStale, heartbeat }: EachBatchPayload): Promise<void> {
    this.#lastLoopAt = Date.now();
    const owned = this.#owned.get(batch.partition);
    if (!owned || !owned.ready || !owned.store || owned.revoked) return;
    const store = owned.store;
    const timer = this.#metrics.batchSeconds.startTimer();
    try {
      try {
        await this.#withLock(owned, () => this.#applyBatch(owned, store, batch.topic, batch.messages, isRunning, isStale));
      } catch (error) {
        this.#options.handler.onAbort?.(batch.partition);
        throw error;
      }
      const last = batch.messages.at(-1);
      if (last && isRunning() && !isStale()) {
        resolveOffset(last.offset);
        // The store's offsets are the truth; the group's committed offsets (autoCommit is off, so
        // commitOffsetsIfNecessary would not write them) are for lag tools and dashboards.
        await this.#consumer
          .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }])
          .catch((error: unknown) => this.#options.logger.debug({ err: error }, 'group offset commit failed (advisory only)'));
        await heartbeat();
      }
      this.#metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    } finally {
      timer();
    }
  }

  async #applyBatch(
    owned: OwnedPartition,
    store: PartitionStore,
    topic: string,
    messages: KafkaMessage[],
    isRunning: () => boolean,
    isStale: () => boolean,
  ): Promise<void> {
    const { handler, deadLetters, logger } = this.#options;
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
    // and the broker refuses record batches over max.message.bytes (1 MiB by default). A fetched
    // batch that changes more state than SUB_BATCH_BYTES is committed in several steps.
    const commitSoFar = async () => {
      if (nextOffset === null) return;
      handler.beforeCommit?.(tx);
      await this.#commit(store, tx, outputs, { [topic]: nextOffset });
      if (applied > 0) this.#metrics.records.inc({ topic, outcome: 'applied' }, applied);
      if (deadLettered > 0) this.#metrics.records.inc({ topic, outcome: 'dead_lettered' }, deadLettered);
      applied = 0;
      deadLettered = 0;
      handler.afterCommit?.(store.partition);
      tx = new StateTransaction(store, owned.cache);
      outputs = [];
      outputBytes = 0;
      nextOffset = null;
    };
    for (const message of messages) {
      if (!isRunning() || isStale() || owned.revoked) break;
      const offset = Number(message.offset);
      if (offset < firstUnapplied) {
        skipped++;
        continue;
      }
      try {
        await handler.handle(topic, message, tx, emit);
        applied++;
      } catch (error) {
        if (!isInputError(error)) throw error;
        await deadLetters.publish(
          { topic, partition: store.partition, offset: message.offset, timestamp: message.timestamp, key: message.key, value: message.value, headers: message.headers },
          error,
        );
        deadLettered++;
        logger.warn({ topic, partition: store.partition, offset: message.offset, code: error.code, reason: errorMessage(error) }, 'record dead-lettered');
      }
      nextOffset = offset + 1;
      if (tx.bytes + outputBytes > SUB_BATCH_BYTES) await commitSoFar();
    }
    this.#metrics.cacheHits.inc(owned.cache.hits - hitsBefore);
    this.#metrics.cacheMisses.inc(owned.cache.misses - missesBefore);
    if (skipped > 0) this.#metrics.records.inc({ topic, outcome: 'replay_skipped' }, skipped);
    await commitSoFar();
  }

  /** Outputs and changelog first (at least once), then state and offsets in one atomic batch. */
  async #commit(store: PartitionStore, tx: StateTransaction, outputs: OutgoingRecord[], offsets: Record<string, number>): Promise<void> {
    await this.#commitMany([{ store, tx, outputs, offsets }]);
  }

  /**
   * The commit of one or more partitions: every output first (any number of requests), then the
   * changelogs in one request, so each partition's changelog lands as one record batch, all of it
   * or none (restore replays whole commits only), then each store batch with its offsets.
   */
  async #commitMany(commits: { store: PartitionStore; tx: StateTransaction; outputs: OutgoingRecord[]; offsets: Record<string, number> }[]): Promise<void> {
    const { producer, changelogTopic } = this.#options;
    const topicMessages = new Map<string, Message[]>();
    for (const output of commits.flatMap((commit) => commit.outputs)) {
      const list = topicMessages.get(output.topic) ?? [];
      list.push(output.message);
      topicMessages.set(output.topic, list);
    }
    for (const chunk of requestChunks(topicMessages, MAX_REQUEST_BYTES)) await producer.sendBatch({ topicMessages: chunk });
    const changelogs = commits.map((commit) => changelogMessages(commit.store.partition, commit.tx.dirty, commit.offsets));
    const changelogNext = new Map<number, number>();
    if (changelogs.some((messages) => messages.length > 0)) {
      const results = await producer.sendBatch({ topicMessages: [{ topic: changelogTopic, messages: changelogs.flat() }] });
      commits.forEach((commit, index) => {
        const result = results.find((candidate) => candidate.topicName === changelogTopic && candidate.partition === commit.store.partition);
        if (result?.baseOffset !== undefined && changelogs[index]!.length > 0) changelogNext.set(commit.store.partition, Number(result.baseOffset) + changelogs[index]!.length);
      });
    }
    for (const { store, tx, offsets } of commits) {
      const next = changelogNext.get(store.partition);
      await store.commit({ puts: tx.dirty, offsets, ...(next !== undefined ? { changelogNext: next } : {}) }, this.#options.syncWrites ?? false);
      tx.settle();
    }
  }

  /** Idempotent: readiness off, stop fetching (leaving the group), wait for in-flight batches, close stores. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#running = false;
      this.#options.onReadyChange?.(false);
      await this.#consumer.disconnect().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'consumer disconnect failed'));
      for (const partition of [...this.#owned.keys()]) await this.#release(partition);
    })();
    return this.#stopping;
  }

  get lastLoopAt(): number {
    return this.#lastLoopAt;
  }
}

/** Bytes per produce request, well under the broker's default max.message.bytes of 1 MiB. */
const MAX_REQUEST_BYTES = 512 * 1024;
/**
 * State and output bytes after which a fetched batch is committed in steps: its changelog (plus
 * the aggregates written back at commit) stays one record batch under the broker's limit.
 */
const SUB_BATCH_BYTES = 256 * 1024;
/** Per-record overhead of the record format, roughly (headers, varints, attributes). */
const RECORD_OVERHEAD_BYTES = 32;

function messageBytes(message: Message): number {
  const size = (value: Message['key'] | Message['value']) => (value == null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  let headers = 0;
  for (const [name, value] of Object.entries(message.headers ?? {})) headers += name.length + (typeof value === 'string' ? Buffer.byteLength(value) : value instanceof Buffer ? value.length : 16);
  return size(message.key) + size(message.value) + headers + RECORD_OVERHEAD_BYTES;
}

/** Splits per-topic messages into requests of at most `limit` bytes, keeping each topic's order. */
export function requestChunks(topicMessages: ReadonlyMap<string, Message[]>, limit: number): { topic: string; messages: Message[] }[][] {
  const chunks: { topic: string; messages: Message[] }[][] = [];
  let current: { topic: string; messages: Message[] }[] = [];
  let bytes = 0;
  for (const [topic, messages] of topicMessages) {
    let entry: { topic: string; messages: Message[] } | null = null;
    for (const message of messages) {
      const size = messageBytes(message);
      if (bytes > 0 && bytes + size > limit) {
        chunks.push(current);
        current = [];
        bytes = 0;
        entry = null;
      }
      if (!entry) {
        entry = { topic, messages: [] };
        current.push(entry);
      }
      entry.messages.push(message);
      bytes += size;
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
