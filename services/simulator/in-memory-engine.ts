import { Partitioners } from '../shared/kafka/kafkajs.ts';
import { MemoryLevel } from 'memory-level';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineConfig } from '../engine/config.ts';
import { PriorSums } from '../engine/prior-sums.ts';
import { aggregateParams, RecipientState, type EngagementOutcome, type PooledAggregate } from '../engine/recipient-state.ts';
import { SendTimeDecider, toDecisionTrigger } from '../engine/send-time-decider.ts';
import type { Decision } from '../model/decision-types.ts';
import { decodeProfile, encodeProfile, type Profile } from '../model/profile.ts';
import type { EngagementEvent, SendTrigger } from '../shared/contracts/record-types.ts';
import { PartitionStore } from '../shared/stream/partition-store.ts';
import { CleanCache, StateTransaction } from '../shared/stream/state-transaction.ts';

/** kafkajs' default partitioner is the Java-compatible murmur2 one; only its hash is used here. */
const PARTITIONER = Partitioners.DefaultPartitioner();

/** The partition the default (Java-compatible murmur2) partitioner gives a key. */
export function partitionOf(key: string, partitions: number): number {
  return PARTITIONER({
    topic: 't',
    partitionMetadata: Array.from({ length: partitions }, (_, id) => ({ partitionId: id, leader: 0, replicas: [0], isr: [0] })) as never,
    message: { key, value: null },
  });
}

/**
 * The engine's decision path without Kafka: the same RecipientState and SendTimeDecider the
 * engine runs, on in-memory stores, one store per partition, events applied in per-partition
 * order. Tests use it as the oracle of what the engine must compute; the simulator runs its
 * policy with it.
 */
export class InMemoryEngine {
  readonly #stores = new Map<number, { store: PartitionStore; cache: CleanCache; tx: StateTransaction | null }>();
  readonly #state: RecipientState;
  readonly #decider: SendTimeDecider;
  readonly #partitions: number;
  /** The priors as every engine instance reads them once all partitions have published. */
  readonly #priors: PriorSums;
  #priorsStale = true;

  constructor(config: Readonly<EngineConfig>, partitions = 1) {
    this.#priors = new PriorSums(aggregateParams(config));
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

  /** The state does not depend on where batches end, so commits happen only when asked or when large. */
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

  /**
   * A second engine that starts from this one's state but runs with its own config (say another
   * exploration share): replaying a long history once serves several policies.
   */
  async fork(config: Readonly<EngineConfig>): Promise<InMemoryEngine> {
    await this.settle();
    const copy = new InMemoryEngine(config, this.#partitions);
    for (const [partition, entry] of this.#stores) {
      const puts = new Map<string, Buffer | null>();
      for await (const [key, value] of entry.store.entries({ gte: '\x01', lt: '\uffff' })) puts.set(key, value);
      const tx = await copy.#tx(partition);
      await tx.store.commit({ puts, offsets: {} });
    }
    return copy;
  }

  async stores(): Promise<PartitionStore[]> {
    await this.settle();
    return [...this.#stores.values()].map((entry) => entry.store);
  }

  /** Applies one engagement event as the engine would; says whether it counted and as which signal. */
  async applyEngagement(event: EngagementEvent, recordTimestamp: number): Promise<{ outcome: EngagementOutcome; signal: string }> {
    const tx = await this.#tx(partitionOf(event.recipientId, this.#partitions));
    const result = await this.#state.applyEngagement(event, recordTimestamp, tx);
    if (result.outcome === 'applied') this.#priorsStale = true;
    await this.#commit(tx);
    return result;
  }

  /**
   * The decision the engine makes for the trigger, or the dead-letter reason of an invalid one.
   * Decisions read through the open transaction, so `settle: false` (no store write before each
   * decision, much faster in a simulation) decides the same; settling keeps the stores current.
   */
  async decide(trigger: SendTrigger, options: { settle?: boolean } = {}): Promise<Decision | string> {
    if (options.settle !== false) await this.settle();
    const tx = await this.#tx(partitionOf(trigger.recipientId, this.#partitions));
    const decisionTrigger = toDecisionTrigger(trigger);
    const invalid = this.#decider.validate(decisionTrigger);
    if (invalid) return invalid;
    await this.#refreshPriors();
    return this.#decider.decide(decisionTrigger, await this.#state.evidenceFor(trigger.recipientId, this.#decider.cohortZone(decisionTrigger), tx, (key) => this.#priors.get(key)));
  }

  /** The priors as an engine instance reads them once every partition has published its aggregates. */
  async priors(): Promise<(aggregateKey: string) => PooledAggregate | null> {
    await this.#refreshPriors();
    return (key) => this.#priors.get(key);
  }

  /** Every partition's aggregates as published (all of them, up to date), summed as the engine sums them. */
  async #refreshPriors(): Promise<void> {
    if (!this.#priorsStale) return;
    for (const partition of [...this.#stores.keys()].sort((a, b) => a - b)) {
      const tx = await this.#tx(partition);
      const keys = new Set([...(await this.#state.aggregateKeys(tx.store)), ...this.#state.cachedAggregateKeys(partition)]);
      for (const [key, aggregate] of await this.#state.aggregates(keys, tx)) this.#priors.set(partition, key, aggregate === null ? null : { profile: cloneOf(aggregate.profile), recipients: aggregate.recipients });
    }
    this.#priorsStale = false;
  }
}

/** A copy: the state keeps changing its aggregates in place, a published partial does not change. */
function cloneOf(profile: Profile): Profile {
  return decodeProfile(encodeProfile(profile));
}
