import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka as KafkaClient } from 'kafkajs';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ErrorCode, errorMessage, StoError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export interface GlobalTableOptions<V> {
  /** Names the table in logs and metrics (`table` label), e.g. "priors", "campaign-settings". */
  name: string;
  /** A compacted topic: the latest record per key is the value, a tombstone (null value) deletes it. */
  topic: string;
  /** The environment variable that names the topic (`STO_TOPIC_…`), for the error when it cannot be read. */
  topicVariable: string;
  kafka: KafkaClient;
  logger: Logger;
  registry: Registry;
  /** Turns a record into a value; a throw skips the record (counted and logged without its bytes). */
  decode(key: string, value: Buffer): V;
  /** Called for every change after the table is loaded: a new value, or null for a deletion. */
  onChange?(key: string, value: V | null): void;
  /**
   * Runs the application of each fetched batch (default: at once). A table whose readers must not
   * see a change in the middle of their own critical section (the delay service's release pass)
   * defers it here.
   */
  applyWith?(apply: () => void): Promise<void>;
}

/** Table metrics, shared by every table of a process (label `table`). */
function tableMetrics(registry: Registry): { entries: Gauge<'table'>; invalid: Counter<'table'> } {
  const existing = registry.getSingleMetric('sto_global_table_entries') as Gauge<'table'> | undefined;
  if (existing) return { entries: existing, invalid: registry.getSingleMetric('sto_global_table_invalid_records_total') as Counter<'table'> };
  return {
    entries: new Gauge({ name: 'sto_global_table_entries', help: 'Keys held by a global table.', labelNames: ['table'], registers: [registry] }),
    invalid: new Counter({ name: 'sto_global_table_invalid_records_total', help: 'Records of a global table topic that could not be decoded and were skipped.', labelNames: ['table'], registers: [registry] }),
  };
}

type State = 'created' | 'loading' | 'loaded' | 'stopped';

/**
 * Every record of a compacted topic, all partitions, held in memory by every instance (a global
 * table, as Kafka Streams calls it): for data every instance needs whole, whatever partitions it
 * owns, such as the population priors and the campaign settings. `start()` returns once the table
 * holds everything the topic held when it was called; later records keep arriving until `stop()`.
 *
 * kafkajs reads only as a member of a consumer group, so each start joins a group of its own
 * (alone in it, it is given every partition), reads from the beginning and commits nothing: the
 * topic is the table's only durable copy, and a restart reads it again.
 */
export class GlobalTable<V> {
  readonly #options: GlobalTableOptions<V>;
  readonly #values = new Map<string, V>();
  readonly #metrics: ReturnType<typeof tableMetrics>;
  #consumer: Consumer | null = null;
  #state: State = 'created';

  constructor(options: GlobalTableOptions<V>) {
    this.#options = options;
    this.#metrics = tableMetrics(options.registry);
  }

  get loaded(): boolean {
    return this.#state === 'loaded';
  }

  get size(): number {
    return this.#values.size;
  }

  get(key: string): V | undefined {
    return this.#values.get(key);
  }

  entries(): IterableIterator<[string, V]> {
    return this.#values.entries();
  }

  /**
   * Reads the topic up to the end offsets it has now; rejects after `timeoutMs` with what is
   * missing, as a DEPENDENCY_UNREACHABLE that names the topic, its variable and the step that
   * creates it.
   */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.#state !== 'created') throw new Error(`global table ${this.#options.name} was already started`);
    this.#state = 'loading';
    const { name, topic, topicVariable } = this.#options;
    try {
      await this.#load(timeoutMs);
    } catch (error) {
      throw new StoError(
        ErrorCode.DEPENDENCY_UNREACHABLE,
        `the ${name} topic ${topic} (${topicVariable}) could not be read to its end: ${errorMessage(error)}; it is created by the bootstrap step (npm run bootstrap)`,
        { cause: error, retriable: false },
      );
    }
  }

  async #load(timeoutMs: number): Promise<void> {
    const { kafka, topic, name, logger } = this.#options;
    const started = Date.now();
    const admin = kafka.admin();
    await admin.connect();
    // The end of each partition now; loaded = read up to there everywhere.
    const ends = new Map<number, bigint>();
    try {
      for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) if (BigInt(high) > BigInt(low)) ends.set(partition, BigInt(high));
    } finally {
      await admin.disconnect();
    }
    const remaining = new Set(ends.keys());
    let markLoaded: () => void = () => undefined;
    const loadedNow = new Promise<void>((resolve) => (markLoaded = resolve));
    const caughtUp = (partition: number, nextOffset: bigint) => {
      if (!remaining.has(partition) || nextOffset < ends.get(partition)!) return;
      remaining.delete(partition);
      if (remaining.size === 0) markLoaded();
    };
    if (remaining.size === 0) markLoaded();

    this.#consumer = kafka.consumer({
      groupId: `sto-global-table.${name}.${randomUUID()}`,
      sessionTimeout: 30_000,
      maxWaitTimeInMs: 250,
      retry: { retries: 10 },
    });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic, fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const apply = () => {
          for (const message of batch.messages) this.#apply(message.key?.toString('utf8') ?? '', message.value);
        };
        if (this.#options.applyWith) await this.#options.applyWith(apply);
        else apply();
        this.#metrics.entries.set({ table: name }, this.#values.size);
        caughtUp(batch.partition, BigInt(batch.lastOffset()) + 1n);
      },
    });

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`global table ${name}: not loaded from ${topic} after ${timeoutMs} ms; partitions still behind: ${[...remaining].join(', ')}`)), timeoutMs);
    });
    try {
      await Promise.race([loadedNow, timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.#state !== 'loading') return;
    this.#state = 'loaded';
    logger.info({ table: name, topic, entries: this.#values.size, seconds: (Date.now() - started) / 1_000 }, 'global table loaded');
  }

  #apply(key: string, value: Buffer | null): void {
    const { name, decode, onChange, logger } = this.#options;
    if (value === null) {
      if (this.#values.delete(key) && this.#state === 'loaded') onChange?.(key, null);
      return;
    }
    let decoded: V;
    try {
      decoded = decode(key, value);
    } catch (error) {
      this.#metrics.invalid.inc({ table: name });
      logger.warn({ table: name, reason: errorMessage(error), bytes: value.length }, 'global table record skipped: it does not decode');
      return;
    }
    this.#values.set(key, decoded);
    if (this.#state === 'loaded') onChange?.(key, decoded);
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    const consumer = this.#consumer;
    this.#state = 'stopped';
    this.#consumer = null;
    await consumer?.disconnect().catch((error: unknown) => this.#options.logger.warn({ table: this.#options.name, err: error }, 'global table consumer did not disconnect cleanly'));
  }
}
