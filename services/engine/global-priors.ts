import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger.ts';
import { GlobalTable } from '../shared/stream/global-table.ts';
import type { EngineConfig } from './config.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import { decodePartialPrior, digestOf, parsePriorRecordKey, PriorSums } from './prior-sums.ts';
import { aggregateParams, ENGINE_KEYS, type PooledAggregate } from './recipient-state.ts';

/**
 * The priors every engine instance decides with: the whole priors topic (every partition's partial
 * aggregates, whoever owns the partition) held in a global table and summed per aggregate key.
 * `start()` returns once the topic is read up to its end, so the first decision has the priors.
 */
export class GlobalPriors {
  readonly sums: PriorSums;
  readonly #table: GlobalTable<PooledAggregate & { digest: string }>;
  readonly #metrics: EngineMetrics;
  readonly #topic: string;

  constructor(options: { config: Readonly<EngineConfig>; kafka: Kafka; logger: Logger; registry: Registry; metrics: EngineMetrics }) {
    this.sums = new PriorSums(aggregateParams(options.config));
    this.#metrics = options.metrics;
    this.#topic = options.config.common.topics.priors;
    this.#table = new GlobalTable<PooledAggregate & { digest: string }>({
      name: 'priors',
      topic: options.config.common.topics.priors,
      topicVariable: 'STO_TOPIC_PRIORS',
      kafka: options.kafka,
      logger: options.logger,
      registry: options.registry,
      decode: (key, value) => {
        parsePriorRecordKey(key);
        return { ...decodePartialPrior(value), digest: digestOf(value) };
      },
      onChange: (key, value) => this.#apply(key, value),
    });
  }

  /** The aggregate summed over all partitions, with the recipients it pools. */
  readonly get = (aggregateKey: string): PooledAggregate | null => this.sums.get(aggregateKey);

  /** The digest of the value the topic holds for a record key, as read so far. */
  readonly publishedDigest = (recordKey: string): string | undefined => this.#table.get(recordKey)?.digest;

  async start(): Promise<void> {
    await this.#table.start();
    // Records read while loading did not call onChange; setting one twice is harmless.
    for (const [key, value] of this.#table.entries()) this.#apply(key, value);
  }

  #apply(key: string, value: PooledAggregate | null): void {
    // A malformed key never reaches here as a value (decode threw), but a tombstone might.
    let aggregateKey: string;
    try {
      aggregateKey = parsePriorRecordKey(key).aggregateKey;
    } catch {
      return;
    }
    this.sums.setRecord(key, value);
    if (aggregateKey === ENGINE_KEYS.global) {
      const population = this.sums.get(ENGINE_KEYS.global);
      this.#metrics.populationPrior.set({ measure: 'recipients' }, population?.recipients ?? 0);
      this.#metrics.populationPrior.set({ measure: 'events' }, population?.profile.events ?? 0);
    }
  }

  stop(): Promise<void> {
    return this.#table.stop();
  }
}
