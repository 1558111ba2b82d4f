import { Partitioners, type Kafka, type Message } from 'kafkajs';
import { MemoryLevel } from 'memory-level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TopicsConfig } from '../../../services/shared/config/common-config.ts';
import type { EngagementEvent, SendTrigger } from '../../../services/shared/contracts/record-types.ts';
import type { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { valueSubject } from '../../../services/shared/contracts/schema-files.ts';
import { PartitionStore } from '../../../services/shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../../../services/shared/stream/state-transaction.ts';
import type { EngineConfig } from '../../../services/engine/config.ts';
import { RecipientState } from '../../../services/engine/recipient-state.ts';
import { SendTimeDecider, toDecisionTrigger } from '../../../services/engine/send-time-decider.ts';
import type { Decision } from '../../../services/model/decision-types.ts';

/** The partition kafkajs' default (Java-compatible murmur2) partitioner gives a key. */
const PARTITIONER = Partitioners.DefaultPartitioner();

export function partitionOf(key: string, partitions: number): number {
  const partitioner = PARTITIONER;
  return partitioner({ topic: 't', partitionMetadata: Array.from({ length: partitions }, (_, id) => ({ partitionId: id, leader: 0, replicas: [0], isr: [0] })) as never, message: { key, value: null } });
}

/**
 * What the engine must compute, computed in this process with the same pure functions on
 * in-memory stores: one store per partition, events applied in per-partition order.
 */
export class EngineOracle {
  readonly #stores = new Map<number, { store: PartitionStore; cache: CleanCache; tx: StateTransaction | null }>();
  readonly #state: RecipientState;
  readonly #decider: SendTimeDecider;
  readonly #partitions: number;

  constructor(config: Readonly<EngineConfig>, partitions: number) {
    this.#state = new RecipientState(config);
    this.#decider = new SendTimeDecider(config, this.#state.params);
    this.#partitions = partitions;
  }

  async #tx(partition: number): Promise<StateTransaction> {
    let entry = this.#stores.get(partition);
    if (!entry) {
      const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
      const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-oracle'), partition, factory: () => db as never });
      entry = { store, cache: new CleanCache(0), tx: null };
      this.#stores.set(partition, entry);
    }
    entry.tx ??= new StateTransaction(entry.store, entry.cache);
    return entry.tx;
  }

  /** The state does not depend on where batches end, so the oracle commits only when asked. */
  async #commit(tx: StateTransaction): Promise<void> {
    const entry = this.#stores.get(tx.partition)!;
    if (entry.tx !== tx) return;
    if (tx.dirty.size < 5_000) return;
    await this.settle();
  }

  async settle(): Promise<void> {
    for (const entry of this.#stores.values()) {
      if (!entry.tx) continue;
      this.#state.flush(entry.tx);
      await entry.store.commit({ puts: entry.tx.dirty, offsets: {} });
      entry.tx.settle();
      entry.tx = null;
    }
  }

  async stores(): Promise<PartitionStore[]> {
    await this.settle();
    return [...this.#stores.values()].map((entry) => entry.store);
  }

  async applyEngagement(event: EngagementEvent, recordTimestamp: number): Promise<void> {
    const tx = await this.#tx(partitionOf(event.recipientId, this.#partitions));
    await this.#state.applyEngagement(event, recordTimestamp, tx);
    await this.#commit(tx);
  }

  async decide(trigger: SendTrigger): Promise<Decision | string> {
    await this.settle();
    const tx = await this.#tx(partitionOf(trigger.recipientId, this.#partitions));
    const decisionTrigger = toDecisionTrigger(trigger);
    const invalid = this.#decider.validate(decisionTrigger);
    if (invalid) return invalid;
    return this.#decider.decide(decisionTrigger, await this.#state.evidenceFor(trigger.recipientId, this.#decider.cohortZone(decisionTrigger), tx));
  }
}

export async function produceRecords<T>(options: {
  kafka: Kafka;
  codec: SchemaCodec;
  topic: string;
  contract: 'engagement' | 'trigger' | 'erasure' | 'scheduled';
  records: T[];
  key: (record: T) => string;
}): Promise<void> {
  const writer = await options.codec.writer(options.contract, valueSubject(options.topic));
  const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const messages: Message[] = options.records.map((record) => ({ key: options.key(record), value: options.codec.encode(writer, record) }));
    for (let at = 0; at < messages.length; at += 2_000) await producer.send({ topic: options.topic, messages: messages.slice(at, at + 2_000) });
  } finally {
    await producer.disconnect();
  }
}

/** Reads every record of a topic until `count` arrived or the time is up. */
export async function readTopic<T>(options: {
  kafka: Kafka;
  codec: SchemaCodec;
  topic: string;
  contract: 'scheduled' | 'ready' | 'deadLetter';
  count: number;
  timeoutMs: number;
}): Promise<{ value: T; headers: Record<string, string>; partition: number; key: string }[]> {
  const consumer = options.kafka.consumer({ groupId: `${options.topic}.reader.${Date.now()}` });
  const records: { value: T; headers: Record<string, string>; partition: number; key: string }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
        records.push({ value: await options.codec.decode<T>(options.contract, message.value), headers, partition, key: message.key?.toString() ?? '' });
      },
    });
    const deadline = Date.now() + options.timeoutMs;
    while (records.length < options.count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    // A little longer, to see duplicates or extras that should not be there.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  } finally {
    await consumer.disconnect();
  }
  return records;
}

export function engineEnv(topics: TopicsConfig, stateDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STO_STATE_DIR: stateDir,
    STO_ENGINE_GROUP_ID: `${topics.engagement}.engine`,
    STO_LOG_LEVEL: 'warn',
    ...extra,
  };
}
