import type { KafkaMessage } from 'kafkajs';
import type { Channel, ErasureRequest, ReadySend, ScheduledSend } from '../shared/contracts/record-types.ts';
import type { SchemaCodec, Writer } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, InputError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import type { OutgoingRecord, PartitionedRunner, PartitionHandler } from '../shared/stream/partitioned-runner.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import type { DelayConfig } from './config.ts';
import type { DelayMetrics } from './delay-metrics.ts';
import { cancelPending, earliestDue, erasePending, idKey, pendingFrom, schedulePending, takeDue, type PendingSend } from './pending-sends.ts';
import { ReleaseTimer, type TimerApi } from './release-timer.ts';
import { TokenBucket } from './token-bucket.ts';

/**
 * Keeps scheduled sends in the partition stores and releases each to the ready topic at its
 * instant, never before: consumption (handle) writes pending sends; a per-partition timer wakes
 * at the earliest due one and releases due sends under the runner's partition lock.
 */
export class DelayHandler implements PartitionHandler {
  readonly #config: Readonly<DelayConfig>;
  readonly #codec: SchemaCodec;
  readonly #readyWriter: Writer;
  readonly #metrics: DelayMetrics;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #timer: ReleaseTimer;
  readonly #buckets = new Map<Channel, TokenBucket>();
  readonly #stores = new Map<number, PartitionStore>();
  readonly #pending = new Map<number, number>();
  /** Pending-count changes of the batch being consumed, applied only once its state is committed. */
  readonly #uncommitted = new Map<number, number>();
  /** Whether a release pass is running, and whether another one was asked for while it ran. */
  readonly #flight = { running: false, again: false };
  #runner: Pick<PartitionedRunner, 'runExclusiveMany'> | null = null;
  #stopped = false;

  constructor(options: {
    config: Readonly<DelayConfig>;
    codec: SchemaCodec;
    readyWriter: Writer;
    metrics: DelayMetrics;
    logger: Logger;
    clock: () => number;
    timers?: TimerApi;
  }) {
    this.#config = options.config;
    this.#codec = options.codec;
    this.#readyWriter = options.readyWriter;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#timer = new ReleaseTimer({ clock: options.clock, clockRate: options.config.clockSpeedup, ...(options.timers ? { timers: options.timers } : {}), fire: () => void this.releaseDueSends() });
    for (const channel of Object.keys(options.config.ratePerSecond) as Channel[]) {
      const rate = options.config.ratePerSecond[channel];
      if (rate > 0) this.#buckets.set(channel, new TokenBucket(rate, options.config.rateBurst, options.clock()));
    }
  }

  attach(runner: Pick<PartitionedRunner, 'runExclusiveMany'>): void {
    this.#runner = runner;
  }

  #adjustPending(partition: number, delta: number): void {
    this.#pending.set(partition, (this.#pending.get(partition) ?? 0) + delta);
    this.#metrics.pending.set([...this.#pending.values()].reduce((sum, count) => sum + count, 0));
  }

  #adjustAfterCommit(partition: number, delta: number): void {
    this.#uncommitted.set(partition, (this.#uncommitted.get(partition) ?? 0) + delta);
  }

  /**
   * A scheduled send first reads its schedule id's entry (is it a replacement?). The engine puts
   * the id in the `sto-schedule-id` header, so a batch's reads become one; records without the
   * header read their entry one by one.
   */
  stateKeys(topic: string, message: KafkaMessage): readonly string[] {
    if (topic !== this.#config.common.topics.scheduled) return [];
    const header = message.headers?.['sto-schedule-id'];
    const scheduleId = Buffer.isBuffer(header) ? header.toString('utf8') : typeof header === 'string' ? header : null;
    return scheduleId ? [idKey(scheduleId)] : [];
  }

  async handle(topic: string, message: KafkaMessage, tx: StateTransaction): Promise<void> {
    const { topics, maxRecordBytes } = this.#config.common;
    if ((message.value?.length ?? 0) > maxRecordBytes) throw new InputError(ErrorCode.OVERSIZE, `record of ${message.value?.length} bytes exceeds STO_MAX_RECORD_BYTES=${maxRecordBytes}`);
    if (topic === topics.scheduled) {
      const send = await this.#codec.decode<ScheduledSend>('scheduled', message.value);
      if (!send.scheduleId || !send.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'scheduleId and recipientId are required');
      if (!Number.isFinite(send.sendAt) || send.sendAt < 0) throw new InputError(ErrorCode.INVALID_FIELD, `sendAt ${send.sendAt} is not an instant`);
      if (send.action === 'CANCEL') {
        if (await cancelPending(tx, send.scheduleId)) {
          this.#adjustAfterCommit(tx.partition, -1);
          this.#metrics.cancelled.inc({ cause: 'cancel' });
        }
        return;
      }
      this.#adjustAfterCommit(tx.partition, await schedulePending(tx, pendingFrom(send)));
    } else if (topic === topics.erasure) {
      const request = await this.#codec.decode<ErasureRequest>('erasure', message.value);
      const removed = await erasePending(tx, request.recipientId);
      this.#adjustAfterCommit(tx.partition, -removed);
      this.#metrics.cancelled.inc({ cause: 'erasure' }, removed);
    }
  }

  async onOpen(store: PartitionStore): Promise<void> {
    this.#stores.set(store.partition, store);
    const count = await store.countEntries({ gte: 'due:', lt: 'due:\xff' });
    this.#pending.set(store.partition, 0);
    this.#adjustPending(store.partition, count);
    this.#timer.arm(store.partition, await earliestDue({ store }));
  }

  onClose(partition: number): void {
    this.#uncommitted.delete(partition);
    this.#timer.disarm(partition);
    this.#stores.delete(partition);
    this.#pending.delete(partition);
    this.#adjustPending(partition, 0);
  }

  /** A failed batch is retried from its first record: its counts must not stay behind. */
  onAbort(partition: number): void {
    this.#uncommitted.delete(partition);
  }

  afterCommit(partition: number): void {
    const delta = this.#uncommitted.get(partition) ?? 0;
    this.#uncommitted.delete(partition);
    if (delta !== 0) this.#adjustPending(partition, delta);
    const store = this.#stores.get(partition);
    if (store) void earliestDue({ store }).then((due) => this.#timer.arm(partition, due));
  }

  /**
   * Releases due sends, never before their instant. A timer wakes for one partition, but every
   * partition with something due is released in the same pass and one commit: outputs in one
   * go, then all changelogs in one request (runExclusiveMany), so a pass costs two produce round
   * trips however many partitions it covers. One pass runs at a time; wake-ups during a pass ask
   * for one more pass after it. Under load, passes grow instead of multiplying.
   */
  async releaseDueSends(): Promise<void> {
    if (this.#flight.running) {
      this.#flight.again = true;
      return;
    }
    this.#flight.running = true;
    try {
      do {
        this.#flight.again = false;
        await this.#releasePass();
      } while (this.#flight.again && !this.#stopped);
    } finally {
      this.#flight.running = false;
    }
  }

  async #releasePass(): Promise<void> {
    if (this.#stopped || !this.#runner) return;
    // Only partitions with something due take their lock; the others keep (or get) their timer.
    const startedAt = this.#clock();
    const due: number[] = [];
    for (const [partition, store] of this.#stores) {
      const earliest = await earliestDue({ store });
      if (earliest !== null && earliest <= startedAt) due.push(partition);
      else this.#timer.arm(partition, earliest);
    }
    if (due.length === 0) return;
    const released = new Map<number, number>();
    const retryInMs = new Map<number, number | null>();
    try {
      const owned = await this.#runner.runExclusiveMany(due, async (tx, emit) => {
        const now = this.#clock();
        const taken = await takeDue(tx, now, this.#config.releaseBatch, (send) => this.#buckets.get(send.channel)?.take(now) ?? 0);
        retryInMs.set(tx.partition, taken.retryInMs);
        released.set(tx.partition, taken.due.length);
        for (const send of taken.due) this.#emitReady(send, now, emit);
      });
      for (const partition of owned) this.#adjustPending(partition, -(released.get(partition) ?? 0));
    } catch (error) {
      this.#logger.error({ err: error, partitions: due }, 'release failed; retrying in 1 s');
      for (const partition of due) this.#timer.arm(partition, this.#clock() + 1_000);
      return;
    }
    for (const partition of due) {
      // A full batch: more may be due. Another pass at once (consumption gets the locks in between).
      if ((released.get(partition) ?? 0) >= this.#config.releaseBatch) {
        this.#flight.again = true;
        continue;
      }
      const store = this.#stores.get(partition);
      if (!store) continue;
      const next = await earliestDue({ store });
      const wait = retryInMs.get(partition) ?? null;
      const retryAt = wait === null ? null : this.#clock() + wait;
      this.#timer.arm(partition, next === null ? retryAt : retryAt === null ? next : Math.max(next, Math.min(retryAt, next + 3_600_000)));
    }
  }

  #emitReady(send: PendingSend, now: number, emit: (record: OutgoingRecord) => void): void {
    const ready: ReadySend = {
      scheduleId: send.scheduleId,
      triggerId: send.triggerId,
      recipientId: send.recipientId,
      campaignId: send.campaignId,
      messageId: send.messageId,
      channel: send.channel,
      reason: send.reason,
      sendAt: send.sendAt,
      releasedAt: now,
      timeZone: send.timeZone,
      payload: Buffer.from(send.payload, 'base64'),
    };
    emit({
      topic: this.#config.common.topics.ready,
      message: { key: send.recipientId, value: this.#codec.encode(this.#readyWriter, ready), headers: { 'sto-schedule-id': send.scheduleId, 'sto-channel': send.channel } },
    });
    const lateness = Math.max(0, now - send.sendAt) / 1000;
    this.#metrics.lateness.observe(lateness);
    this.#metrics.releases.inc({ channel: send.channel });
    if (this.#buckets.has(send.channel)) this.#metrics.rateLimitDelay.observe({ channel: send.channel }, lateness);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer.disarmAll();
  }
}
