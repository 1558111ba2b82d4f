import type { KafkaMessage } from 'kafkajs';
import { deadLetterTopic } from '../shared/config/common-config.ts';
import { UNKNOWN_SYMBOL, type CampaignSettings, type DeadLetter, type ErasureRequest, type ReceivedEngagementEvent, type ReceivedSendTrigger, type ScheduledSend } from '../shared/contracts/record-types.ts';
import { readySendOf, scheduledSendOf } from '../shared/contracts/send-shapes.ts';
import type { SchemaCodec, Writer } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, InputError, pureStep } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import type { OutgoingRecord, PartitionHandler } from '../shared/stream/partitioned-runner.ts';
import type { PunctuationContext, Punctuator } from '../shared/stream/partition-handler.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import type { EngineConfig } from './config.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import { digestOf, encodePartialPrior, priorRecordKey } from './prior-sums.ts';
import { ENGINE_KEYS, RecipientState, storeKeyKind, type CorruptValue, type PooledAggregate } from './recipient-state.ts';
import { SendTimeDecider } from './send-time-decider.ts';
import type { Decision } from '../model/decision-types.ts';
import type { PlannedSend, ResolvedSettings } from '../model/resolve-settings.ts';

/**
 * The engine's per-record logic: engagement events update the recipient's decayed counters and
 * the cohort/global aggregates; triggers are scored and decided; erasure removes a recipient.
 * All state goes through the runner's transaction, so it is committed atomically with offsets.
 */
export class EngineHandler implements PartitionHandler, Punctuator {
  readonly #config: Readonly<EngineConfig>;
  readonly #codec: SchemaCodec;
  readonly #writers: { scheduled: Writer; ready: Writer; deadLetter: Writer };
  readonly #metrics: EngineMetrics;
  readonly #logger: Logger;
  readonly #state: RecipientState;
  readonly #decider: SendTimeDecider;
  readonly #clock: () => number;
  readonly #erasedKeys = new Map<number, string[]>();
  readonly #stores = new Map<number, PartitionStore>();
  /** Corrupt stored values met while handling the current record, to dead-letter with it. */
  readonly #quarantined: CorruptValue[] = [];
  /** The priors summed over every partition (read from the priors topic): decisions use these. */
  readonly #priors: (aggregateKey: string) => PooledAggregate | null;
  /** A campaign's settings as the settings topic holds them (every instance reads it whole), or null. */
  readonly #campaignSettings: (campaignId: string) => CampaignSettings | null;
  /** The digest of the value the priors topic holds for a record key, as this instance read it. */
  readonly #publishedDigest: (recordKey: string) => string | undefined;
  /**
   * Per owned partition: aggregate keys committed since they were last published, when that was,
   * and what the punctuation in progress emitted (it counts as published once its commit succeeded).
   */
  readonly #unpublished = new Map<number, { keys: Set<string>; publishedAt: number | null; emitting: { keys: string[]; at: number; partials: number; tombstones: number } | null }>();
  /** Publishes the partitions' partial aggregates, from the partition's own commit path. */
  readonly punctuator: Punctuator = this;

  constructor(options: {
    config: Readonly<EngineConfig>;
    codec: SchemaCodec;
    writers: { scheduled: Writer; ready: Writer; deadLetter: Writer };
    metrics: EngineMetrics;
    logger: Logger;
    clock?: () => number;
    /** The cohort and population priors summed over all partitions (see prior-sums.ts). */
    priors: (aggregateKey: string) => PooledAggregate | null;
    /** What the priors topic holds per record key (digestOf its value), to skip republishing it on open. */
    publishedDigest?: (recordKey: string) => string | undefined;
    /** Campaign settings by campaignId (the engine's CampaignSettingsTable); none when absent. */
    campaignSettings?: (campaignId: string) => CampaignSettings | null;
  }) {
    this.#priors = options.priors;
    this.#campaignSettings = options.campaignSettings ?? (() => null);
    this.#publishedDigest = options.publishedDigest ?? (() => undefined);
    this.#config = options.config;
    this.#codec = options.codec;
    this.#writers = options.writers;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    this.#state = new RecipientState(options.config, { onCorrupt: (value) => this.#quarantined.push(value) });
    this.#decider = new SendTimeDecider(options.config, this.#state.params);
  }

  /** Records are keyed by recipient id (the contract): their state can be read ahead per batch. */
  stateKeys(topic: string, message: KafkaMessage): readonly string[] {
    const recipientId = message.key?.toString('utf8');
    if (!recipientId) return [];
    const { topics } = this.#config.common;
    if (topic === topics.engagement || topic === topics.triggers) return [ENGINE_KEYS.recipient(recipientId)];
    return [];
  }

  async handle(topic: string, message: KafkaMessage, tx: StateTransaction, emit: (record: OutgoingRecord) => void): Promise<void> {
    const { topics, maxRecordBytes } = this.#config.common;
    if ((message.value?.length ?? 0) > maxRecordBytes) {
      throw new InputError(ErrorCode.OVERSIZE, `record of ${message.value?.length} bytes exceeds STO_MAX_RECORD_BYTES=${maxRecordBytes}`);
    }
    try {
      if (topic === topics.engagement) {
        const event = await this.#codec.decode<ReceivedEngagementEvent>('engagement', message.value);
        // Checked here, not in an async helper: an await less per event on the ingest path.
        this.#checkEngagement(event);
        const outcome = await this.#state.applyEngagement(event, Number(message.timestamp), tx);
        this.#metrics.engagements.inc({ outcome: outcome.outcome, signal: outcome.signal });
      } else if (topic === topics.triggers) {
        const trigger = await this.#codec.decode<ReceivedSendTrigger>('trigger', message.value);
        await this.#decide(trigger, Number(message.timestamp), tx, emit);
      } else if (topic === topics.erasure) {
        const request = await this.#codec.decode<ErasureRequest>('erasure', message.value);
        await this.#erase(request, Number(message.timestamp), tx);
      }
    } finally {
      this.#emitQuarantined(topic, message, emit);
    }
  }

  /**
   * A corrupt stored value goes to the dead-letter topic of the input that met it, as a record of
   * the changelog topic (key = store key, value = the stored bytes, offset -1: a store value has
   * none of its own), with the input record in headers. It is produced with the batch's outputs,
   * before the deletion of the key is committed, so it is never lost (at worst repeated).
   */
  #emitQuarantined(topic: string, message: KafkaMessage, emit: (record: OutgoingRecord) => void): void {
    for (const corrupt of this.#quarantined.splice(0)) {
      const source = this.#config.common.topics.engineChangelog;
      const letter: DeadLetter = {
        sourceTopic: source,
        sourcePartition: corrupt.partition,
        sourceOffset: -1,
        sourceTimestamp: Number(message.timestamp) || 0,
        key: Buffer.from(corrupt.key, 'utf8'),
        value: corrupt.bytes,
        headers: { 'sto-input-topic': Buffer.from(topic), 'sto-input-offset': Buffer.from(message.offset) },
        errorCode: ErrorCode.CORRUPT_STATE,
        reason: corrupt.reason.slice(0, 2_000),
        service: 'engine',
        failedAt: this.#clock(),
      };
      emit({ topic: deadLetterTopic(topic), message: { key: corrupt.key, value: this.#codec.encode(this.#writers.deadLetter, letter), headers: { 'sto-error-code': ErrorCode.CORRUPT_STATE } } });
      this.#metrics.corruptState.inc({ kind: storeKeyKind(corrupt.key) });
      this.#metrics.deadLetters.inc({ topic: source, code: ErrorCode.CORRUPT_STATE });
      this.#logger.warn({ partition: corrupt.partition, inputTopic: topic, inputOffset: message.offset, reason: corrupt.reason }, 'corrupt stored value quarantined');
    }
  }

  #checkEngagement(event: ReceivedEngagementEvent): void {
    requireId('eventId', event.eventId);
    requireId('recipientId', event.recipientId);
    if (event.channel === UNKNOWN_SYMBOL) this.#metrics.unknownSymbols.inc({ contract: 'engagement', field: 'channel' });
    if (event.eventType === UNKNOWN_SYMBOL) this.#metrics.unknownSymbols.inc({ contract: 'engagement', field: 'eventType' });
  }

  async #decide(trigger: ReceivedSendTrigger, recordTimestamp: number, tx: StateTransaction, emit: (record: OutgoingRecord) => void): Promise<void> {
    const started = performance.now();
    const plan = this.#decider.plan(trigger, this.#campaignSettings(trigger.campaignId), (field) => this.#metrics.unknownSymbols.inc({ contract: 'trigger', field }));
    for (const planned of plan.sends) {
      const invalid = this.#decider.validate(planned.trigger);
      if (invalid) throw new InputError(ErrorCode.INVALID_FIELD, `invalid trigger ${trigger.triggerId}${plan.sends.length > 1 ? ` (step ${planned.step})` : ''}: ${invalid}`);
    }
    const decisionTrigger = plan.sends[0]!.trigger;
    const channel = decisionTrigger.channel;
    const erasedAt = await this.#state.erasedAt(trigger.recipientId, recordTimestamp, tx);
    if (erasedAt !== null && trigger.occurredAt <= erasedAt) {
      // A trigger from before the recipient's erasure, consumed after it, must not bring them back.
      this.#metrics.triggersIgnored.inc({ reason: 'erased' });
      return;
    }
    const evidence = await this.#state.evidenceFor(trigger.recipientId, this.#decider.cohortZone(decisionTrigger), tx, this.#priors);
    const k = this.#config.priorMinRecipients;
    if (evidence.cohort !== null && evidence.cohort.recipients < k) this.#metrics.priorsWithheld.inc({ level: 'cohort' });
    if (evidence.global !== null && evidence.global.recipients < k) this.#metrics.priorsWithheld.inc({ level: 'population' });
    const { topics } = this.#config.common;
    // Every step of a sequence is decided and scheduled now, each with its own id and window.
    for (const planned of plan.sends) {
      const decision = pureStep('the decision', () => this.#decider.decide(planned.trigger, evidence));
      const scheduled = scheduledStepOf(trigger, decision, planned, plan.settings, channel);
      const headers = { 'sto-schedule-id': decision.scheduleId, 'sto-channel': channel, 'sto-reason': decision.reason };
      if (decision.urgentBypass && decision.sendAtMs <= trigger.occurredAt) {
        // An urgent or transactional send goes out now, straight to the ready topic, never behind the delay service.
        const ready = readySendOf(scheduled, Math.max(decision.sendAtMs, this.#clock()));
        emit({ topic: topics.ready, message: { key: trigger.recipientId, value: this.#codec.encode(this.#writers.ready, ready), headers } });
      } else {
        emit({ topic: topics.scheduled, message: { key: trigger.recipientId, value: this.#codec.encode(this.#writers.scheduled, scheduled), headers } });
      }
      this.#metrics.decisions.inc({ reason: decision.reason, channel });
    }
    this.#metrics.decisionSeconds.observe((performance.now() - started) / 1000);
    if (Number.isFinite(recordTimestamp)) this.#metrics.triggerToDecisionSeconds.observe(Math.max(0, this.#clock() - recordTimestamp) / 1000);
  }

  async #erase(request: ErasureRequest, recordTimestamp: number, tx: StateTransaction): Promise<void> {
    requireId('recipientId', request.recipientId);
    const removed = await this.#state.erase(request.recipientId, request.requestedAt, recordTimestamp, tx);
    const keys = this.#erasedKeys.get(tx.partition) ?? [];
    keys.push(...removed);
    this.#erasedKeys.set(tx.partition, keys);
    this.#metrics.erasures.inc();
    this.#logger.info({ requestId: request.requestId, partition: tx.partition }, 'recipient erased');
  }

  async onOpen(store: PartitionStore): Promise<void> {
    this.#stores.set(store.partition, store);
    await this.#state.open(store);
    // A partition new to this instance (or restarted) publishes every aggregate it holds once:
    // the previous owner may have committed changes it had not published yet.
    this.#unpublished.set(store.partition, { keys: new Set(await this.#state.aggregateKeys(store)), publishedAt: null, emitting: null });
  }

  /** Due when committed aggregates wait, STO_ENGINE_PRIORS_PUBLISH_SECONDS after the last publish. */
  async nextWakeUp(store: PartitionStore): Promise<number | null> {
    const pending = this.#unpublished.get(store.partition);
    if (!pending || pending.keys.size === 0) return null;
    return pending.publishedAt === null ? this.#clock() : pending.publishedAt + this.#config.priorsPublishMs;
  }

  /**
   * Publishes the partition's changed aggregates as they are committed (the punctuation runs
   * between batches, under the partition's lock): key `<partition>|<aggregate key>`, value the
   * aggregate and the recipients it pools, a tombstone for one emptied by erasure.
   */
  async punctuate(context: PunctuationContext): Promise<{ retryAt?: number | null }> {
    const { tx, emit, now } = context;
    const pending = this.#unpublished.get(tx.partition);
    if (!pending || pending.keys.size === 0) return {};
    if (pending.publishedAt !== null && now < pending.publishedAt + this.#config.priorsPublishMs) return { retryAt: pending.publishedAt + this.#config.priorsPublishMs };
    const topic = this.#config.common.topics.priors;
    const keys = [...pending.keys].sort();
    const opening = pending.publishedAt === null;
    let partials = 0;
    let tombstones = 0;
    for (const [key, aggregate] of await this.#state.aggregates(keys, tx)) {
      const recordKey = priorRecordKey(tx.partition, key);
      const value = aggregate === null ? null : encodePartialPrior(aggregate);
      // The first publication after the partition opened sends only what the topic lacks: most of
      // what a restarted or moved partition holds is there already, as its previous owner left it.
      if (opening && this.#publishedDigest(recordKey) === (value === null ? undefined : digestOf(value))) continue;
      if (value === null) tombstones++;
      else partials++;
      emit({ topic, message: { key: recordKey, value } });
    }
    // Published once the pass commits (its outputs acknowledged); a failed pass leaves them pending.
    pending.emitting = { keys, at: now, partials, tombstones };
    // Nothing emitted, nothing for the runner to commit (and no afterCommit): done now.
    if (partials + tombstones === 0) this.#published(pending);
    return {};
  }

  /** The punctuation's records are out: its keys are published (unless they changed since). */
  #published(pending: { keys: Set<string>; publishedAt: number | null; emitting: { keys: string[]; at: number; partials: number; tombstones: number } | null }): void {
    if (!pending.emitting) return;
    const { keys, at, partials, tombstones } = pending.emitting;
    for (const key of keys) pending.keys.delete(key);
    if (partials > 0) this.#metrics.priorsPublished.inc({ kind: 'partial' }, partials);
    if (tombstones > 0) this.#metrics.priorsPublished.inc({ kind: 'tombstone' }, tombstones);
    pending.publishedAt = at;
    pending.emitting = null;
  }

  beforeCommit(tx: StateTransaction): void {
    this.#state.flush(tx);
  }

  onAbort(partition: number): void {
    this.#state.forget(partition);
    const pending = this.#unpublished.get(partition);
    if (pending) pending.emitting = null;
  }

  onClose(partition: number): void {
    this.#state.close(partition);
    this.#unpublished.delete(partition);
    this.#stores.delete(partition);
    this.#erasedKeys.delete(partition);
  }

  /** LevelDB deletes are tombstones until compaction: compact erased recipients' key ranges away. */
  afterCommit(partition: number): void {
    const changed = this.#state.committed(partition);
    const pending = this.#unpublished.get(partition);
    if (pending) {
      this.#published(pending);
      for (const key of changed) pending.keys.add(key);
    }
    const keys = this.#erasedKeys.get(partition);
    this.#erasedKeys.delete(partition);
    const store = this.#stores.get(partition);
    if (!keys || keys.length === 0 || !store) return;
    for (const key of keys) {
      store.compactRange(key, `${key}\xff`).catch((error: unknown) => this.#logger.warn({ err: error, partition }, 'compaction after erasure failed'));
    }
  }
}

function requireId(field: string, value: string): void {
  if (!value || value.length > 256) throw new InputError(ErrorCode.INVALID_FIELD, `${field} must be 1..256 characters`);
}

/**
 * The scheduled send of one planned send: the decision with its explanation, where each setting
 * came from, and what the release must respect (the campaign's stop rules and caps, the quiet
 * hours unless a bypass ignores them, the expiry after the resolved grace).
 */
/** The scheduled send of one planned step: the decision through the one send mapper, with the step's settings and release conditions. */
export function scheduledStepOf(trigger: ReceivedSendTrigger, decision: Decision, planned: PlannedSend, settings: ResolvedSettings, channel: ScheduledSend['channel']): ScheduledSend {
  const conditions = releaseConditions({ quietHours: planned.trigger.quietHours, expiresAt: trigger.expiresAt }, decision, settings.expiryGraceMinutes * 60_000);
  return scheduledSendOf(decision, trigger, channel, {
    ...conditions,
    // A bypass the settings let through quiet hours is not held by them at release either.
    quietHours: planned.trigger.bypass === 'IGNORE_QUIET_HOURS' && decision.urgentBypass ? null : conditions.quietHours,
    correlationId: trigger.correlationId ?? null,
    step: planned.step,
    stopOn: settings.stopOn,
    caps: settings.caps,
    settingsSources: planned.sources,
  });
}

/**
 * What the delay service checks again when it releases the send: the quiet hours the decision
 * respected (none for an explicit sendAt, which the sender chose), and the instant after which
 * the send is stale: the trigger's expiresAt, else the end of the window (or the chosen instant,
 * when later) plus the grace.
 */
export function releaseConditions(
  trigger: { quietHours: ScheduledSend['quietHours']; expiresAt?: number | null },
  decision: { reason: string; sendAtMs: number; windowEndMs: number },
  graceMs: number,
): { quietHours: ScheduledSend['quietHours']; expiresAt: number } {
  return {
    quietHours: decision.reason === 'EXPLICIT_SEND_AT' ? null : (trigger.quietHours ?? null),
    expiresAt: trigger.expiresAt ?? Math.max(decision.windowEndMs, decision.sendAtMs) + graceMs,
  };
}
