import type { KafkaMessage } from 'kafkajs';
import { firstAllowedAtOrAfter } from '../model/quiet-hours.ts';
import type { CampaignStop, Channel, ErasureRequest, ReceivedEngagementEvent, ScheduledSend, UnreleasedOutcome, UnreleasedSend } from '../shared/contracts/record-types.ts';
import { readySendOf, unreleasedSendOf } from '../shared/contracts/send-shapes.ts';
import type { SchemaCodec, Writer } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, InputError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import type { Emit, OutgoingRecord, PartitionHandler, PunctuationContext, Punctuator } from '../shared/stream/partitioned-runner.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import type { DelayConfig } from './config.ts';
import type { DelayMetrics } from './delay-metrics.ts';
import type { EngagementWatermark } from './engagement-watermark.ts';
import { cancelPending, earliestDue, erasePending, idKey, pendingFrom, schedulePending, takeDue, type OnCorrupt, type PendingSend } from './pending-sends.ts';
import { applyEngagement, capFitAt, decodeGuard, encodeGuard, GUARD_EVENT_TYPES, guardKey, recordRelease, stoppedBy, suppressedBy, type RecipientGuard } from './recipient-guard.ts';
import type { ReleaseFence } from './release-fence.ts';
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
  unreported: Array<{ kind: 'released' | 'deferred' | 'cap-moved'; channel: Channel; latenessSeconds: number } | { kind: 'unreleased'; outcome: UnreleasedOutcome; channel: Channel; latenessSeconds: number }>;
  /** This partition's release pass is inside the release fence (left once its commit is done or dropped). */
  fenced: boolean;
  /** Since when releases wait for the partition to catch up with the engagement topic (null: not waiting). */
  watermarkWaitSince: number | null;
  /**
   * When the partition last stored a scheduled send (on open: the open). A send that arrives
   * already due must also wait for the engagement records appended with it, so the watermark's
   * fetch must come after the send was stored, not only after its instant.
   */
  lastStoredAt: number;
}

/** While a partition is behind the engagement topic, its release is looked at again this often. */
const WATERMARK_RETRY_MS = 20;

/** The campaign stops the delay service reads (the global table of sto.campaigns.stops.v1). */
export interface CampaignStopLookup {
  get(campaignId: string): CampaignStop | undefined;
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
  readonly #clock: () => number;
  readonly #buckets = new Map<Channel, TokenBucket>();
  /** A dead-letter record for an unreadable stored value met while consuming (releases use the runner's quarantine). */
  readonly #quarantineLetter: QuarantineLetter | null;
  readonly punctuator: Punctuator<DelayPartitionState> = this;
  readonly #watermark: EngagementWatermark | null;
  readonly #campaignStops: CampaignStopLookup;
  readonly #fence: ReleaseFence | null;

  constructor(options: {
    config: Readonly<DelayConfig>;
    codec: SchemaCodec;
    readyWriter: Writer;
    unreleasedWriter: Writer;
    metrics: DelayMetrics;
    logger: Logger;
    clock: () => number;
    quarantineLetter?: QuarantineLetter;
    /** Null only in tests that consume no engagement topic. */
    watermark?: EngagementWatermark | null;
    campaignStops?: CampaignStopLookup;
    fence?: ReleaseFence | null;
  }) {
    this.#config = options.config;
    this.#codec = options.codec;
    this.#readyWriter = options.readyWriter;
    this.#unreleasedWriter = options.unreleasedWriter;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#quarantineLetter = options.quarantineLetter ?? null;
    this.#watermark = options.watermark ?? null;
    this.#campaignStops = options.campaignStops ?? { get: () => undefined };
    this.#fence = options.fence ?? null;
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
    // Engagement records are keyed by recipient id: their guard is read whatever their type.
    if (topic === this.#config.common.topics.engagement) return message.key ? [guardKey(message.key.toString('utf8'))] : [];
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
        const now = this.#clock();
        const removed = (pending: PendingSend) => state.unreported.push(this.#emitUnreleased(pending, 'CANCELLED', `cancelled by a CANCEL record of schedule ${send.scheduleId}`, now, emit));
        if (await cancelPending(tx, send.scheduleId, onCorrupt, removed)) {
          state.uncommitted--;
          this.#metrics.cancelled.inc({ cause: 'cancel' });
        }
        return;
      }
      state.uncommitted += await schedulePending(tx, pendingFrom(send), onCorrupt);
      state.lastStoredAt = this.#clock();
    } else if (topic === topics.erasure) {
      const request = await this.#codec.decode<ErasureRequest>('erasure', message.value);
      const now = this.#clock();
      const removed = await erasePending(tx, request.recipientId, onCorrupt, (pending) =>
        state.unreported.push(this.#emitUnreleased(pending, 'ERASED', `recipient erased by request ${request.requestId}`, now, emit)),
      );
      // The guard is the recipient's data too (their stop events, suppression, release history).
      tx.delete(guardKey(request.recipientId));
      state.uncommitted -= removed;
      this.#metrics.cancelled.inc({ cause: 'erasure' }, removed);
    } else if (topic === topics.engagement) {
      await this.#applyEngagement(message, tx);
    }
  }

  /**
   * Keeps what releases must respect: the stop marks, suppression and re-subscriptions of the
   * recipient. Other types are skipped after decoding. An undecodable record is skipped, not
   * dead-lettered: the engine, which owns the engagement topic's dead letters, already does.
   */
  async #applyEngagement(message: KafkaMessage, tx: StateTransaction): Promise<void> {
    let event: ReceivedEngagementEvent;
    try {
      event = await this.#codec.decode<ReceivedEngagementEvent>('engagement', message.value);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      this.#metrics.engagementEvents.inc({ outcome: 'undecodable' });
      return;
    }
    if (!GUARD_EVENT_TYPES.has(event.eventType) || !event.recipientId) {
      this.#metrics.engagementEvents.inc({ outcome: 'skipped' });
      return;
    }
    const key = guardKey(event.recipientId);
    const stored = decodeGuard(await tx.get(key));
    const guard = 'corrupt' in stored ? decodeGuard(undefined) as RecipientGuard : stored;
    if ('corrupt' in stored) this.#logger.error({ partition: tx.partition, key, reason: stored.corrupt }, 'unreadable recipient guard replaced');
    tx.put(key, encodeGuard(applyEngagement(guard, event, this.#clock())));
    this.#metrics.engagementEvents.inc({ outcome: 'applied' });
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
    return { pending, uncommitted: 0, unreported: [], fenced: false, watermarkWaitSince: null, lastStoredAt: this.#clock() };
  }

  #leaveFence(state: DelayPartitionState): void {
    if (!state.fenced) return;
    state.fenced = false;
    this.#fence?.leave();
  }

  onClose(_partition: number, state: DelayPartitionState): void {
    this.#leaveFence(state);
    this.#metrics.pending.dec(state.pending);
    state.pending = 0;
    state.uncommitted = 0;
    state.unreported = [];
  }

  /** A failed or dropped batch or release is retried from its start: its counts must not stay behind. */
  onAbort(_partition: number, state: DelayPartitionState): void {
    this.#leaveFence(state);
    state.uncommitted = 0;
    state.unreported = [];
  }

  afterCommit(_partition: number, state: DelayPartitionState): void {
    this.#leaveFence(state);
    state.pending += state.uncommitted;
    this.#metrics.pending.inc(state.uncommitted);
    state.uncommitted = 0;
    // Counted only now: a pass that fails or is dropped released nothing, and is done again.
    for (const entry of state.unreported) {
      const { kind, channel, latenessSeconds } = entry;
      if (entry.kind === 'unreleased') {
        this.#metrics.unreleased.inc({ outcome: entry.outcome, channel });
        if (entry.outcome === 'EXPIRED') this.#metrics.expired.inc({ channel });
      } else if (kind === 'deferred') this.#metrics.deferred.inc({ channel });
      else if (kind === 'cap-moved') this.#metrics.capMoves.inc({ channel });
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

  /**
   * Releases the partition's due sends (never before their instant), up to a batch, within rate
   * limits, once the partition has applied every engagement event appended before they were due
   * (the watermark), and only those no stop, campaign stop, suppression or cap holds back.
   */
  async punctuate({ tx, emit, now, quarantine }: PunctuationContext, state: DelayPartitionState): Promise<{ more: boolean; retryAt: number | null }> {
    let emitted = 0;
    const counted: Emit = (record) => {
      emitted++;
      emit(record);
    };
    if (this.#fence) {
      await this.#fence.enter();
      state.fenced = true;
    }
    try {
      return await this.#releaseDue(tx, counted, now, quarantine, state);
    } finally {
      // Nothing to commit: the runner calls neither afterCommit nor onAbort for this partition.
      if (tx.dirty.size === 0 && emitted === 0) this.#leaveFence(state);
    }
  }

  async #releaseDue(tx: StateTransaction, emit: Emit, now: number, quarantine: PunctuationContext['quarantine'], state: DelayPartitionState): Promise<{ more: boolean; retryAt: number | null }> {
    let scanUpToMs = now;
    if (this.#watermark) {
      const earliest = await earliestDue(tx);
      if (earliest === null || earliest > now) return { more: false, retryAt: null };
      const grace = this.#config.stopGraceMs;
      if (earliest + grace > now) return { more: false, retryAt: earliest + grace };
      const check = await this.#watermark.check(tx.partition, tx.store.nextOffset(this.#config.common.topics.engagement), Math.max(earliest + grace, state.lastStoredAt));
      // The fetch covers the sends due up to its instant minus the grace.
      scanUpToMs = Math.min(now, check.releaseUpTo - grace);
      if (check.kind === 'behind') {
        state.watermarkWaitSince ??= now;
        if (now - state.watermarkWaitSince < this.#config.stopWaitMs) return { more: false, retryAt: now + WATERMARK_RETRY_MS };
        this.#metrics.watermarkTimeouts.inc();
        this.#logger.warn({ partition: tx.partition, consumed: check.consumed, end: check.end, waitedMs: now - state.watermarkWaitSince }, 'releasing without having applied every engagement event before the due instant (STO_DELAY_STOP_WAIT_MS passed)');
      }
      if (state.watermarkWaitSince !== null) this.#metrics.watermarkWait.observe((now - state.watermarkWaitSince) / 1_000);
      state.watermarkWaitSince = null;
    }
    const guards = new Map<string, { guard: RecipientGuard; changed: boolean }>();
    const guardOf = async (recipientId: string) => {
      let entry = guards.get(recipientId);
      if (!entry) {
        const key = guardKey(recipientId);
        const value = await tx.get(key);
        const decoded = decodeGuard(value);
        if ('corrupt' in decoded) {
          this.#metrics.quarantined.inc();
          quarantine(key, value ?? null, decoded.corrupt);
          tx.delete(key);
        }
        entry = { guard: 'corrupt' in decoded ? (decodeGuard(undefined) as RecipientGuard) : decoded, changed: false };
        guards.set(recipientId, entry);
      }
      return entry;
    };
    const verdicts = new Map<string, ReleaseVerdict>();
    const taken = await takeDue(
      tx,
      now,
      this.#config.releaseBatch,
      (send) => this.#buckets.get(send.channel)?.take(now) ?? 0,
      (key, value, reason) => {
        this.#metrics.quarantined.inc();
        quarantine(key, value, reason);
      },
      async (send) => {
        const verdict = this.#verdict(send, (await guardOf(send.recipientId)).guard, now);
        verdicts.set(send.scheduleId, verdict);
        return verdict;
      },
      {
        scanUpToMs,
        onRelease: (send) => {
          const entry = guards.get(send.recipientId)!;
          recordRelease(entry.guard, send.channel, now);
          entry.changed = true;
        },
      },
    );
    for (const [recipientId, { guard, changed }] of guards) if (changed) tx.put(guardKey(recipientId), encodeGuard(guard));
    for (const send of taken.due) state.unreported.push(this.#emitReady(send, now, emit));
    for (const { send, detail } of taken.expired) state.unreported.push(this.#emitUnreleased(send, 'EXPIRED', detail, now, emit));
    for (const { send, outcome, detail } of taken.dropped) state.unreported.push(this.#emitUnreleased(send, outcome, detail, now, emit));
    for (const send of taken.deferred) {
      const verdict = verdicts.get(send.scheduleId);
      state.unreported.push({ kind: verdict?.kind === 'defer' && verdict.cause === 'caps' ? 'cap-moved' : 'deferred', channel: send.channel, latenessSeconds: 0 });
    }
    const removed = taken.due.length + taken.corrupt + taken.expired.length + taken.dropped.length;
    state.uncommitted -= removed;
    const handled = removed + taken.deferred.length;
    let retryAt = taken.retryInMs === null ? null : now + taken.retryInMs;
    // Sends due after the watermark's fetch wait for the next pass (and a fresher fetch).
    if (scanUpToMs < now) retryAt = now;
    return { more: handled >= this.#config.releaseBatch, retryAt };
  }

  /**
   * What to do with a due send: stops (an operator's campaign stop, then the send's own rules),
   * suppression, then expiry and quiet hours, then the caps; a send whose zone does not resolve
   * skips the quiet-hours check (released, never lost).
   */
  #verdict(send: PendingSend, guard: RecipientGuard, now: number): ReleaseVerdict {
    const campaignStop = this.#campaignStops.get(send.campaignId);
    if (campaignStop) {
      const by = [campaignStop.stoppedBy && `by ${campaignStop.stoppedBy}`, campaignStop.reason && `(${campaignStop.reason})`].filter(Boolean).join(' ');
      return { kind: 'drop', outcome: 'STOPPED', detail: `campaign ${send.campaignId} stopped${by ? ` ${by}` : ''} at ${new Date(campaignStop.stoppedAt).toISOString()}` };
    }
    const stopped = stoppedBy(guard, send);
    if (stopped) return { kind: 'drop', outcome: 'STOPPED', detail: stopped };
    const suppressed = suppressedBy(guard, send.channel);
    if (suppressed) return { kind: 'drop', outcome: 'SUPPRESSED', detail: suppressed };
    let verdict: ReleaseVerdict;
    try {
      verdict = releaseVerdict(send, now);
    } catch (error) {
      this.#logger.warn({ scheduleId: send.scheduleId, timeZone: send.timeZone, err: error }, 'release check failed: released without it');
      verdict = { kind: 'release' };
    }
    if (verdict.kind !== 'release' || !send.caps) return verdict;
    const fit = capFitAt(guard, send.channel, send.caps, now);
    if (fit <= now) return verdict;
    let at = fit;
    try {
      if (send.quietHours) at = firstAllowedAtOrAfter(fit, send.timeZone, send.quietHours);
    } catch {
      at = fit;
    }
    const expiresAt = send.expiresAt ?? null;
    if (!Number.isFinite(at) || (expiresAt !== null && at > expiresAt)) {
      return {
        kind: 'drop',
        outcome: 'CAPPED',
        detail: `frequency caps (perDay ${send.caps.perDay ?? 'none'}, perWeek ${send.caps.perWeek ?? 'none'}) on ${send.channel} leave no release before ${expiresAt === null ? 'ever' : `expiresAt ${new Date(expiresAt).toISOString()}`}`,
      };
    }
    return { kind: 'defer', untilMs: at, cause: 'caps' };
  }

  #emitUnreleased(send: PendingSend, outcome: UnreleasedOutcome, detail: string, now: number, emit: Emit): { kind: 'unreleased'; outcome: UnreleasedOutcome; channel: Channel; latenessSeconds: number } {
    const record: UnreleasedSend = unreleasedSendOf(send, outcome, detail, now);
    emit({
      topic: this.#config.common.topics.unreleased,
      message: { key: send.recipientId, value: this.#codec.encode(this.#unreleasedWriter, record), headers: { 'sto-schedule-id': send.scheduleId, 'sto-outcome': outcome } },
    });
    return { kind: 'unreleased', outcome, channel: send.channel, latenessSeconds: latenessSeconds(send, now) };
  }

  #emitReady(send: PendingSend, now: number, emit: Emit): { kind: 'released'; channel: Channel; latenessSeconds: number } {
    emit({
      topic: this.#config.common.topics.ready,
      message: { key: send.recipientId, value: this.#codec.encode(this.#readyWriter, readySendOf(send, now)), headers: { 'sto-schedule-id': send.scheduleId, 'sto-channel': send.channel } },
    });
    return { kind: 'released', channel: send.channel, latenessSeconds: latenessSeconds(send, now) };
  }
}

const latenessSeconds = (send: PendingSend, now: number) => Math.max(0, now - send.sendAt) / 1000;
