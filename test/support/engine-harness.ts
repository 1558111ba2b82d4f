import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { KafkaMessage } from 'kafkajs';
import { MemoryLevel } from 'memory-level';
import { Registry } from 'prom-client';
import { compileEngineConfig, type EngineConfig } from '../../services/engine/config.ts';
import { EngineHandler } from '../../services/engine/engine-handler.ts';
import { EngineMetrics } from '../../services/engine/engine-metrics.ts';
import { decodePartialPrior, digestOf, PriorSums } from '../../services/engine/prior-sums.ts';
import { aggregateParams } from '../../services/engine/recipient-state.ts';
import { deadLetterTopic } from '../../services/shared/config/common-config.ts';
import type { CampaignSettings, DeadLetter } from '../../services/shared/contracts/record-types.ts';
import { SchemaCodec, type Writer } from '../../services/shared/contracts/schema-codec.ts';
import { readSchemaJson, valueSubject, type ContractName } from '../../services/shared/contracts/schema-files.ts';
import { errorMessage, isInputError } from '../../services/shared/errors.ts';
import { createLogger } from '../../services/shared/logger.ts';
import { PartitionStore } from '../../services/shared/stream/partition-store.ts';
import type { OutgoingRecord } from '../../services/shared/stream/partitioned-runner.ts';
import { CleanCache, StateTransaction } from '../../services/shared/stream/state-transaction.ts';

/**
 * The two registry calls SchemaCodec makes, answered from memory as
 * @kafkajs/confluent-schema-registry answers them (getSchema gives an avsc Type, a miss has status 404).
 */
export class FakeRegistry {
  readonly #byId = new Map<number, string>();
  readonly #bySubject = new Map<string, number>();
  #nextId = 100;

  add(subject: string, schema: unknown): number {
    const text = JSON.stringify(schema);
    const id = this.#nextId++;
    this.#byId.set(id, text);
    this.#bySubject.set(`${subject}|${text}`, id);
    return id;
  }

  async getSchema(id: number): Promise<avro.Type> {
    const schema = this.#byId.get(id);
    if (!schema) throw Object.assign(new Error(`Schema ${id} not found`), { status: 404 });
    return avro.Type.forSchema(JSON.parse(schema) as avro.Schema);
  }

  async getRegistryIdBySchema(subject: string, schema: { schema: string }): Promise<number> {
    const id = this.#bySubject.get(`${subject}|${schema.schema}`);
    if (id === undefined) throw Object.assign(new Error('Schema not found'), { status: 404 });
    return id;
  }
}

export interface HandledBatch {
  outputs: OutgoingRecord[];
  /** Records the runner would dead-letter (InputError), with the reason. */
  deadLettered: { offset: string; code: string; reason: string }[];
}

/**
 * The engine's handler on one in-memory partition store, driven as the runner drives it (one
 * transaction per batch, InputErrors dead-lettered, aggregates written back, then one store
 * commit), with an in-memory registry: the engine's record logic without Kafka.
 */
export class EngineHarness {
  readonly config: Readonly<EngineConfig>;
  readonly codec: SchemaCodec;
  readonly handler: EngineHandler;
  readonly metrics: Registry;
  readonly store: PartitionStore;
  readonly #cache = new CleanCache(10_000);
  readonly #writers: Map<ContractName, Writer>;
  readonly registry: FakeRegistry;
  /** The priors as the engine reads them from the priors topic: here, what this partition published. */
  readonly priors: PriorSums;
  /** Priors records published so far (key, value or null), in order. */
  readonly published: { key: string; value: Buffer | null }[] = [];
  /** The digest of the latest published value per key: the priors topic as the engine reads it. */
  readonly topicDigests: Map<string, string>;
  /** Publish the priors after every handled batch, as the engine's punctuation does when due. */
  autoPublish = true;
  /** The campaign settings topic as the engine reads it (campaignId → settings): set entries to apply them. */
  readonly campaigns: Map<string, CampaignSettings>;
  #offset = 0;
  #publishClock = 0;

  private constructor(fields: { config: Readonly<EngineConfig>; codec: SchemaCodec; handler: EngineHandler; metrics: Registry; store: PartitionStore; writers: Map<ContractName, Writer>; registry: FakeRegistry; priors: PriorSums; topicDigests: Map<string, string>; campaigns: Map<string, CampaignSettings> }) {
    this.campaigns = fields.campaigns;
    this.priors = fields.priors;
    this.topicDigests = fields.topicDigests;
    this.config = fields.config;
    this.codec = fields.codec;
    this.handler = fields.handler;
    this.metrics = fields.metrics;
    this.store = fields.store;
    this.#writers = fields.writers;
    this.registry = fields.registry;
  }

  static async create(env: Record<string, string> = {}, clock: () => number = () => Date.UTC(2026, 11, 1)): Promise<EngineHarness> {
    const config = compileEngineConfig(env);
    const { topics } = config.common;
    const registry = new FakeRegistry();
    const subjects: [ContractName, string][] = [
      ['engagement', topics.engagement],
      ['trigger', topics.triggers],
      ['erasure', topics.erasure],
      ['scheduled', topics.scheduled],
      ['ready', topics.ready],
      ['deadLetter', deadLetterTopic(topics.engagement)],
    ];
    for (const [contract, topic] of subjects) registry.add(valueSubject(topic), readSchemaJson(contract));
    const codec = new SchemaCodec(registry as unknown as SchemaRegistry);
    const writers = new Map<ContractName, Writer>();
    for (const [contract, topic] of subjects) writers.set(contract, await codec.writer(contract, valueSubject(topic)));
    const metrics = new Registry();
    const priors = new PriorSums(aggregateParams(config));
    const topicDigests = new Map<string, string>();
    const campaigns = new Map<string, CampaignSettings>();
    const handler = new EngineHandler({
      campaignSettings: (campaignId) => campaigns.get(campaignId) ?? null,
      priors: (key) => priors.get(key),
      publishedDigest: (key) => topicDigests.get(key),
      config,
      codec,
      writers: { scheduled: writers.get('scheduled')!, ready: writers.get('ready')!, deadLetter: writers.get('deadLetter')! },
      metrics: new EngineMetrics(metrics),
      logger: createLogger('engine-test', 'silent'),
      clock,
    });
    const db = new MemoryLevel<string, Buffer>({ keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const store = await PartitionStore.open({ baseDir: join(tmpdir(), 'sto-engine-harness'), partition: 0, factory: () => db as never });
    await handler.onOpen(store);
    const harness = new EngineHarness({ config, codec, handler, metrics, store, writers, registry, priors, topicDigests, campaigns });
    await harness.publishPriors();
    return harness;
  }

  /** Framed Avro bytes of `value` under our own registered schema of `contract`. */
  encode(contract: ContractName, value: unknown): Buffer {
    return this.codec.encode(this.#writers.get(contract)!, value);
  }

  /** Registers another writer schema (a newer producer's) and frames `value` with it. */
  encodeWith(schema: avro.Schema, contract: ContractName, value: unknown): Buffer {
    const id = this.registry.add(`other-writer-${contract}-${this.#offset}`, schema);
    const body = avro.Type.forSchema(schema).toBuffer(value);
    return Buffer.concat([Buffer.from([0, id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]), body]);
  }

  /** Writes raw bytes under a store key, as a restore of a changelog record would. */
  async putRaw(key: string, value: Buffer): Promise<void> {
    await this.store.commit({ puts: new Map([[key, value]]), offsets: {} });
  }

  /** Deletes store keys behind the handler's back (as an older engine version left the store), cache included. */
  async deleteRaw(keys: string[]): Promise<void> {
    await this.store.commit({ puts: new Map(keys.map((key) => [key, null])), offsets: {} });
    for (const key of keys) this.#cache.remember(key, null);
  }

  /** Handles records of one topic as one fetched batch and commits it. */
  async handle(topic: string, records: { key: string; value: Buffer; timestamp?: number }[]): Promise<HandledBatch> {
    const tx = new StateTransaction(this.store, this.#cache);
    const outputs: OutgoingRecord[] = [];
    const deadLettered: HandledBatch['deadLettered'] = [];
    for (const record of records) {
      const offset = String(this.#offset++);
      const message = { key: Buffer.from(record.key), value: record.value, timestamp: String(record.timestamp ?? Date.UTC(2026, 11, 1)), offset, headers: {}, attributes: 0 } as unknown as KafkaMessage;
      try {
        await this.handler.handle(topic, message, tx, (output) => outputs.push(output));
      } catch (error) {
        if (!isInputError(error)) throw error;
        deadLettered.push({ offset, code: error.code, reason: errorMessage(error) });
      }
    }
    this.handler.beforeCommit(tx);
    await this.store.commit({ puts: tx.dirty, offsets: {} });
    tx.settle();
    this.handler.afterCommit(0);
    if (this.autoPublish) await this.publishPriors();
    return { outputs, deadLettered };
  }

  /**
   * Runs the handler's priors publication (its punctuation) now and reads what it published back;
   * with `commits: false`, the pass fails to commit (as when the broker refuses its outputs).
   */
  async publishPriors(options: { commits?: boolean } = {}): Promise<void> {
    this.#publishClock += this.config.priorsPublishMs;
    const tx = new StateTransaction(this.store, this.#cache);
    const records: OutgoingRecord[] = [];
    await this.handler.punctuate({ tx, emit: (record) => records.push(record), now: this.#publishClock, quarantine: () => undefined });
    tx.settle();
    if (options.commits === false) {
      this.handler.onAbort(0);
      return;
    }
    if (records.length > 0) this.handler.afterCommit(0);
    for (const { message } of records) {
      const key = String(message.key);
      const value = (message.value as Buffer | null) ?? null;
      this.published.push({ key, value });
      if (value === null) this.topicDigests.delete(key);
      else this.topicDigests.set(key, digestOf(value));
      this.priors.setRecord(key, value === null ? null : decodePartialPrior(value));
    }
  }

  async decodeDeadLetter(output: OutgoingRecord): Promise<DeadLetter> {
    return this.codec.decode<DeadLetter>('deadLetter', output.message.value as Buffer);
  }

  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = (await this.metrics.getMetricsAsJSON()).find((candidate) => candidate.name === name);
    const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
    return values.filter((value) => Object.entries(labels).every(([label, expected]) => String(value.labels[label]) === expected)).reduce((sum, value) => sum + value.value, 0);
  }
}
