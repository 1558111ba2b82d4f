import type { KafkaMessage } from 'kafkajs';
import type { Channel, ErasureRequest, ReadySend, ScheduledSend, UnreleasedSend } from '../shared/contracts/record-types.ts';
import type { SchemaCodec, Writer } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, InputError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import type { Emit, OutgoingRecord, PartitionHandler, PunctuationContext, Punctuator } from '../shared/stream/partitioned-runner.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import type { DelayConfig } from './config.ts';
import type { DelayMetrics } from './delay-metrics.ts';
import { cancelPending, earliestDue, erasePending, idKey, pendingFrom, schedulePending, takeDue, type OnCorrupt, type PendingSend } from './pending-sends.ts';
import { releaseVerdict, type ReleaseVerdict } from './release-gate.ts';
import { TokenBucket } from './token-bucket.ts';

/** Builds the dead-letter record of an unreadable stored value (its partition, key and bytes). */
export type QuarantineLetter = (partition: number, key: string, value: Buffer, reason: string) => OutgoingRecord;

/** The delay service's in-memory state of one partition, owned by the runner. */
export interface DelayPartitionState {
  /** Pending sends in the committed store. */
  pending: number;
  /** Changes of the batch or release being committed, applied once it is. */
  uncommitted: number;
  /** What the pass being committed did to each send (released, expired, deferred), counted in metrics once it is. */
  unreported: Array<{ kind: 'released' | 'expired' | 'deferred'; channel: Channel; latenessSeconds: number }>;
}

/**
 * Keeps scheduled sends in the partition stores and releases each to the ready topic at its
 * instant, never before: consumption (handle) writes pending sends; the release is the
 * runner's punctuation, which wakes at a partition's earliest due send and runs only for
 * partitions the runner still owns, inside its commit protocol.
 */
export class DelayHandler implements PartitionHandler<DelayPartitionState>, Punctuator<DelayPartitionState> {
  readonly #config: Readonly<DelayConfig>;
  readonly #codec: SchemaCodec;
  readonly #readyWriter: Writer;
  readonly #unreleasedWriter: Writer;
  readonly #metrics: DelayMetrics;
  readonly #logger: Logger;
  readonly #buckets = new Map<Channel, TokenBucket>();
  /** A dead-letter record for an unreadable stored value met while consuming (releases use the runner's quarantine). */
  readonly #quarantineLetter: QuarantineLetter | null;
  readonly punctuator: Punctuator<DelayPartitionState> = this;

  constructor(options: {
    config: Readonly<DelayConfig>;
    codec: SchemaCodec;
    readyWriter: Writer;
    unreleasedWriter: Writer;
    metrics: DelayMetrics;
    logger: Logger;
    clock: () => number;
    quarantineLetter?: QuarantineLetter;
  }) {
    this.#config = options.config;
    this.#codec = options.codec;
    this.#readyWriter = options.readyWriter;
    this.#unreleasedWriter = options.unreleasedWriter;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#quarantineLetter = options.quarantineLetter ?? null;
    for (const channel of Object.keys(options.config.ratePerSecond) as Channel[]) {
      const rate = options.config.ratePerSecond[channel];
      if (rate > 0) this.#buckets.set(channel, new TokenBucket(rate, options.config.rateBurst, options.clock()));
    }
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

  async handle(topic: string, message: KafkaMessage, tx: StateTransaction, emit: Emit, state: DelayPartitionState): Promise<void> {
    const { topics, maxRecordBytes } = this.#config.common;
    if ((message.value?.length ?? 0) > maxRecordBytes) throw new InputError(ErrorCode.OVERSIZE, `record of ${message.value?.length} bytes exceeds STO_MAX_RECORD_BYTES=${maxRecordBytes}`);
    const onCorrupt = this.#onCorruptWhileConsuming(tx.partition, emit);
    if (topic === topics.scheduled) {
      const send = await this.#codec.decode<ScheduledSend>('scheduled', message.value);
      if (!send.scheduleId || !send.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'scheduleId and recipientId are required');
      if (!Number.isFinite(send.sendAt) || send.sendAt < 0) throw new InputError(ErrorCode.INVALID_FIELD, `sendAt ${send.sendAt} is not an instant`);
      if (send.action === 'CANCEL') {
        if (await cancelPending(tx, send.scheduleId, onCorrupt)) {
          state.uncommitted--;
          this.#metrics.cancelled.inc({ cause: 'cancel' });
        }
        return;
      }
      state.uncommitted += await schedulePending(tx, pendingFrom(send), onCorrupt);
    } else if (topic === topics.erasure) {
      const request = await this.#codec.decode<ErasureRequest>('erasure', message.value);
      const removed = await erasePending(tx, request.recipientId, onCorrupt);
      state.uncommitted -= removed;
      this.#metrics.cancelled.inc({ cause: 'erasure' }, removed);
    }
  }

  #onCorruptWhileConsuming(partition: number, emit: Emit): OnCorrupt {
    return (key, value, reason) => {
      this.#metrics.quarantined.inc();
      this.#logger.error({ partition, key, bytes: value.length, reason }, 'unreadable pending send removed while consuming');
      if (this.#quarantineLetter) emit(this.#quarantineLetter(partition, key, value, reason));
    };
  }

  async onOpen(store: PartitionStore): Promise<DelayPartitionState> {
    const pending = await store.countEntries({ gte: 'due:', lt: 'due:\xff' });
    this.#metrics.pending.inc(pending);
    return { pending, uncommitted: 0, unreported: [] };
  }

  onClose(_partition: number, state: DelayPartitionState): void {
    this.#metrics.pending.dec(state.pending);
    state.pending = 0;
    state.uncommitted = 0;
    state.unreported = [];
  }

  /** A failed or dropped batch or release is retried from its start: its counts must not stay behind. */
  onAbort(_partition: number, state: DelayPartitionState): void {
    state.uncommitted = 0;
    state.unreported = [];
  }

  afterCommit(_partition: number, state: DelayPartitionState): void {
    state.pending += state.uncommitted;
    this.#metrics.pending.inc(state.uncommitted);
    state.uncommitted = 0;
    // Counted only now: a pass that fails or is dropped released nothing, and is done again.
    for (const { kind, channel, latenessSeconds } of state.unreported) {
      if (kind === 'expired') this.#metrics.expired.inc({ channel });
      else if (kind === 'deferred') this.#metrics.deferred.inc({ channel });
      else {
        this.#metrics.lateness.observe(latenessSeconds);
        this.#metrics.releases.inc({ channel });
        if (this.#buckets.has(channel)) this.#metrics.rateLimitDelay.observe({ channel }, latenessSeconds);
      }
    }
    state.unreported = [];
  }

  nextWakeUp(store: PartitionStore): Promise<number | null> {
    return earliestDue({ store });
  }

  /** Releases the partition's due sends (never before their instant), up to a batch, within rate limits. */
  async punctuate({ tx, emit, now, quarantine }: PunctuationContext, state: DelayPartitionState): Promise<{ more: boolean; retryAt: number | null }> {
    const taken = await takeDue(
      tx,
      now,
      this.#config.releaseBatch,
      (send) => this.#buckets.get(send.channel)?.take(now) ?? 0,
      (key, value, reason) => {
        this.#metrics.quarantined.inc();
        quarantine(key, value, reason);
      },
      (send) => this.#verdict(send, now),
    );
    for (const send of taken.due) state.unreported.push(this.#emitReady(send, now, emit));
    for (const { send, detail } of taken.expired) state.unreported.push(this.#emitExpired(send, detail, now, emit));
    for (const send of taken.deferred) state.unreported.push({ kind: 'deferred', channel: send.channel, latenessSeconds: 0 });
    state.uncommitted -= taken.due.length + taken.corrupt + taken.expired.length;
    const handled = taken.due.length + taken.corrupt + taken.expired.length + taken.deferred.length;
    return { more: handled >= this.#config.releaseBatch, retryAt: taken.retryInMs === null ? null : now + taken.retryInMs };
  }

  /** Expiry and quiet hours, checked again at release; a send whose zone does not resolve is released (never lost). */
  #verdict(send: PendingSend, now: number): ReleaseVerdict {
    try {
      return releaseVerdict(send, now);
    } catch (error) {
      this.#logger.warn({ scheduleId: send.scheduleId, timeZone: send.timeZone, err: error }, 'release check failed: released without it');
      return { kind: 'release' };
    }
  }

  #emitExpired(send: PendingSend, detail: string, now: number, emit: Emit): { kind: 'expired'; channel: Channel; latenessSeconds: number } {
    const record: UnreleasedSend = {
      ...identityOf(send),
      sendAt: send.sendAt,
      expiresAt: send.expiresAt ?? null,
      outcome: 'EXPIRED',
      detail,
      decidedAt: now,
    };
    emit({
      topic: this.#config.common.topics.unreleased,
      message: { key: send.recipientId, value: this.#codec.encode(this.#unreleasedWriter, record), headers: { 'sto-schedule-id': send.scheduleId, 'sto-outcome': 'EXPIRED' } },
    });
    return { kind: 'expired', channel: send.channel, latenessSeconds: latenessSeconds(send, now) };
  }

  #emitReady(send: PendingSend, now: number, emit: Emit): { kind: 'released'; channel: Channel; latenessSeconds: number } {
    const ready: ReadySend = {
      ...identityOf(send),
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
    return { kind: 'released', channel: send.channel, latenessSeconds: latenessSeconds(send, now) };
  }
}

/** The fields that name a send, the same in every record made of it (ready, unreleased). */
function identityOf(send: PendingSend): Pick<ReadySend, 'scheduleId' | 'triggerId' | 'recipientId' | 'campaignId' | 'messageId' | 'channel'> {
  return { scheduleId: send.scheduleId, triggerId: send.triggerId, recipientId: send.recipientId, campaignId: send.campaignId, messageId: send.messageId, channel: send.channel };
}

const latenessSeconds = (send: PendingSend, now: number) => Math.max(0, now - send.sendAt) / 1000;
