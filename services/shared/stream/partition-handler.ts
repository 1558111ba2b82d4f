import type { KafkaMessage, Message } from 'kafkajs';
import type { PartitionStore } from './partition-store.ts';
import type { StateTransaction } from './state-transaction.ts';

export interface OutgoingRecord {
  topic: string;
  message: Message;
}

export type Emit = (record: OutgoingRecord) => void;

/**
 * What a service plugs into the runner: how one input record changes state and what it emits.
 * `S` is the handler's in-memory state of one partition (counts, decoded caches): the runner
 * creates it when the partition's store opens (onOpen's result), hands it to every hook of that
 * partition, and drops it when the partition closes, so handlers keep no per-partition maps.
 */
export interface PartitionHandler<S = unknown> {
  /** Throw a non-retriable StoError for records that belong in the dead-letter topic; any other error is retried. */
  handle(topic: string, message: KafkaMessage, tx: StateTransaction, emit: Emit, state: S): Promise<void>;
  /** The store keys a record will read, if known from its key alone: a batch's reads become one. */
  stateKeys?(topic: string, message: KafkaMessage): readonly string[];
  /** Called before the batch's state is committed: write back state kept decoded in memory. */
  beforeCommit?(tx: StateTransaction, state: S): void;
  /** Called when a batch or punctuation failed and its changes were discarded: drop state kept in memory. */
  onAbort?(partition: number, state: S): void;
  /** Called after a batch's or a punctuation's state is committed. */
  afterCommit?(partition: number, state: S): void;
  /** Called when the partition's store is opened (after restore); returns the partition's in-memory state. */
  onOpen?(store: PartitionStore): Promise<S> | S;
  onClose?(partition: number, state: S): Promise<void> | void;
  /** Timed work (a punctuation, in Kafka Streams' words) that the runner schedules per partition. */
  punctuator?: Punctuator<S>;
}

/** What a punctuation may do besides writing state: emit records and quarantine unreadable state. */
export interface PunctuationContext {
  tx: StateTransaction;
  emit: Emit;
  /** Wall-clock time of the pass (the runner's clock). */
  now: number;
  /** A stored value that cannot be read: its key and bytes go to a dead-letter record, in the same commit. */
  quarantine(key: string, value: Buffer | null, reason: string): void;
}

/**
 * Wall-clock timed work on a partition's state. The runner owns the wake-ups: it asks `nextWakeUp`
 * after the store opens and after every commit of the partition, sleeps until then, and runs
 * `punctuate` only for partitions it still owns, under the partition's lock, inside the same commit
 * protocol as a batch (outputs, then changelog, then the store batch), with ownership checked again
 * before the changelog and the store are written.
 */
export interface Punctuator<S = unknown> {
  /** The instant (runner clock, ms) the partition next has work, or null for none. */
  nextWakeUp(store: PartitionStore, state: S): Promise<number | null>;
  /**
   * Does the work due at `context.now`. Returns `more` when it stopped at a size limit with more
   * due (the runner runs another pass at once, letting consumption in between), and `retryAt`
   * when something due was held back (e.g. a rate limit) and should be looked at again then.
   */
  punctuate(context: PunctuationContext, state: S): Promise<{ more?: boolean; retryAt?: number | null }>;
}
