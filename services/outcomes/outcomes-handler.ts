import type { KafkaMessage } from 'kafkajs';
import type { ErasureRequest, ReadySend, ReceivedEngagementEvent, ScheduledSend, UnreleasedSend } from '../shared/contracts/record-types.ts';
import { deadLetterTopic } from '../shared/config/common-config.ts';
import { UNKNOWN_SYMBOL } from '../shared/contracts/record-types.ts';
import type { SchemaCodec, Writer } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, InputError, StoError, errorMessage } from '../shared/errors.ts';
import type { DeadLetterPublisher } from '../shared/kafka/dead-letter-publisher.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import type { Emit, PartitionHandler, PunctuationContext, Punctuator } from '../shared/stream/partition-handler.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import { attribute, checkConversion, type LatestSend } from './attribution.ts';
import { addOutcome, decodeAggregate, emptyAggregate, encodeAggregate, partialKey, type CampaignAggregate } from './campaign-aggregate.ts';
import type { OutcomesConfig } from './config.ts';
import type { OutcomesMetrics } from './outcomes-metrics.ts';
import { closeAt, decodeLedger, encodeLedger, outcomeOf, withDecision, withEvent, withRelease, withUnreleased, type SendLedger } from './send-ledger.ts';

// Store layout of one partition (all keys of a recipient live on the recipient's partition):
const SEND = 'send:'; // send:<scheduleId> → the send's ledger (JSON)
const DUE = 'due:'; // due:<closeAt, 15 digits>:<scheduleId> → '' (close order)
const CLOSED = 'closed:'; // closed:<scheduleId> → closedAt: late and replayed records of a closed send are ignored
const CLOSED_BY = 'closedby:'; // closedby:<closedAt>:<scheduleId> → '' (forgetting closed ids after the retention)
const MESSAGE = 'msg:'; // msg:<messageId> → scheduleId (attribution by message id)
const LATEST = 'last:'; // last:<recipient>\0<campaign>\0<channel> → LatestSend (attribution to the latest send)
const RECIPIENT = 'rcpt:'; // rcpt:<recipient>\0<scheduleId> → '' (an erasure finds the recipient's sends, open or closed)
const AGGREGATE = 'agg:'; // agg:<campaign>\0<channel> → the partition's partial aggregate

const pad = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(15, '0');
const EMPTY = Buffer.alloc(0);
const latestKey = (recipientId: string, campaignId: string, channel: string) => `${LATEST}${recipientId}\0${campaignId}\0${channel}`;

/** The outcomes stage's in-memory state of one partition. */
export interface OutcomesPartitionState {
  open: number;
  /** Changes and counts of the batch or pass being committed, applied once it is. */
  uncommittedOpen: number;
  events: Map<string, number>;
  sends: Map<string, number>;
  closed: Map<string, number>;
  published: number;
}

/**
 * Joins each send's decision (scheduled), release (ready) and what the sender reported after it
 * (engagement) in the partition store, and closes it when its conversion window, counted from
 * its delivery, has passed (a punctuation): the send's outcome goes to the compacted outcomes
 * topic and into the partition's partial campaign aggregate, published in the same commit.
 */
export class OutcomesHandler implements PartitionHandler<OutcomesPartitionState>, Punctuator<OutcomesPartitionState> {
  readonly #config: Readonly<OutcomesConfig>;
  readonly #codec: SchemaCodec;
  readonly #outcomeWriter: Writer;
  readonly #metrics: OutcomesMetrics;
  readonly #deadLetters: DeadLetterPublisher | null;
  readonly #clock: () => number;
  /** Unreadable stored records met while consuming the current record: dead-lettered with it. */
  #corrupt: Array<{ partition: number; key: string; bytes: Buffer; reason: string }> = [];
  readonly punctuator: Punctuator<OutcomesPartitionState> = this;

  constructor(options: { config: Readonly<OutcomesConfig>; codec: SchemaCodec; outcomeWriter: Writer; metrics: OutcomesMetrics; deadLetters?: DeadLetterPublisher; clock?: () => number }) {
    this.#config = options.config;
    this.#codec = options.codec;
    this.#outcomeWriter = options.outcomeWriter;
    this.#metrics = options.metrics;
    this.#deadLetters = options.deadLetters ?? null;
    this.#clock = options.clock ?? Date.now;
  }

  async handle(topic: string, message: KafkaMessage, tx: StateTransaction, emit: Emit, state: OutcomesPartitionState): Promise<void> {
    this.#corrupt = [];
    try {
      await this.#handle(topic, message, tx, emit, state);
    } finally {
      this.#emitCorrupt(topic, message, emit);
    }
  }

  /**
   * A stored send record that does not decode starts fresh; its key and bytes go to the dead-letter
   * topic in the same commit as the record that met it (never lost, at worst repeated).
   */
  #emitCorrupt(topic: string, message: KafkaMessage, emit: Emit): void {
    for (const corrupt of this.#corrupt.splice(0)) {
      this.#metrics.quarantined.inc();
      if (!this.#deadLetters) continue;
      const stored = { topic: this.#config.common.topics.outcomesChangelog, partition: corrupt.partition, offset: '-1', timestamp: String(Number(message.timestamp) || 0), key: Buffer.from(corrupt.key, 'utf8'), value: corrupt.bytes, headers: { 'sto-input-topic': topic, 'sto-input-offset': message.offset } };
      emit(this.#deadLetters.letter(stored, new StoError(ErrorCode.CORRUPT_STATE, corrupt.reason), deadLetterTopic(topic)));
    }
  }

  async #handle(topic: string, message: KafkaMessage, tx: StateTransaction, emit: Emit, state: OutcomesPartitionState): Promise<void> {
    const { topics, maxRecordBytes } = this.#config.common;
    if ((message.value?.length ?? 0) > maxRecordBytes) throw new InputError(ErrorCode.OVERSIZE, `record of ${message.value?.length} bytes exceeds STO_MAX_RECORD_BYTES=${maxRecordBytes}`);
    if (topic === topics.engagement) return this.#applyEvent(await this.#codec.decode<ReceivedEngagementEvent>('engagement', message.value), tx, state);
    if (topic === topics.scheduled) {
      const send = await this.#codec.decode<ScheduledSend>('scheduled', message.value);
      if (!send.scheduleId || !send.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'scheduleId and recipientId are required');
      if (send.action === 'CANCEL') {
        // A cancelled send was never released: it closes at once as not released (if it was open).
        const existing = await this.#ledger(tx, send.scheduleId);
        if (existing && existing.releasedAt === null) await this.#write(tx, existing, { ...existing, unreleased: 'NOT_RELEASED' }, state);
        return count(state.sends, 'cancel');
      }
      await this.#applySendRecord(tx, state, send.scheduleId, 'scheduled', (existing) => withDecision(existing, send));
      return;
    }
    if (topic === topics.ready) {
      const ready = await this.#codec.decode<ReadySend>('ready', message.value);
      if (!ready.scheduleId || !ready.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'scheduleId and recipientId are required');
      const applied = await this.#applySendRecord(tx, state, ready.scheduleId, 'ready', (existing) => withRelease(existing, ready));
      if (applied) {
        const key = latestKey(ready.recipientId, ready.campaignId, ready.channel);
        const previous = await this.#latest(tx, key);
        if (!previous || previous.releasedAt <= applied.releasedAt!) {
          const latest: LatestSend = { scheduleId: ready.scheduleId, releasedAt: applied.releasedAt!, deliveredAt: applied.deliveredAt };
          tx.put(key, Buffer.from(JSON.stringify(latest)));
        }
      }
      return;
    }
    if (topic === topics.erasure) {
      const request = await this.#codec.decode<ErasureRequest>('erasure', message.value);
      if (!request.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'recipientId is required');
      return this.#erase(request.recipientId, tx, emit, state);
    }
    if (topic === topics.unreleased) {
      const record = await this.#codec.decode<UnreleasedSend>('unreleased', message.value);
      if (!record.scheduleId || !record.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'scheduleId and recipientId are required');
      await this.#applySendRecord(tx, state, record.scheduleId, 'unreleased', (existing) => withUnreleased(existing, record));
    }
  }

  async #applySendRecord(tx: StateTransaction, state: OutcomesPartitionState, scheduleId: string, source: string, change: (existing: SendLedger | null) => SendLedger): Promise<SendLedger | null> {
    if ((await tx.get(CLOSED + scheduleId)) !== undefined) {
      count(state.sends, 'closed_send');
      return null;
    }
    const existing = await this.#ledger(tx, scheduleId);
    const next = change(existing);
    await this.#write(tx, existing, next, state);
    count(state.sends, source);
    return next;
  }

  async #applyEvent(event: ReceivedEngagementEvent, tx: StateTransaction, state: OutcomesPartitionState): Promise<void> {
    if (event.channel === UNKNOWN_SYMBOL || event.eventType === UNKNOWN_SYMBOL) return count(state.events, 'ignored_type');
    if (!['DELIVERY', 'OPEN', 'CLICK', 'CONVERSION', 'BOUNCE', 'COMPLAINT', 'UNSUBSCRIBE'].includes(event.eventType)) return count(state.events, 'ignored_type');
    // A malformed conversion is the sender's defect: dead-lettered (the runner sends it with the reason).
    checkConversion(event);
    if (!event.eventId || !event.recipientId) throw new InputError(ErrorCode.INVALID_FIELD, 'eventId and recipientId are required');
    const byMessageId = !event.scheduleId && event.messageId ? ((await tx.get(MESSAGE + event.messageId))?.toString('utf8') ?? null) : null;
    const latest = !event.scheduleId && !byMessageId && event.campaignId ? await this.#latest(tx, latestKey(event.recipientId, event.campaignId, event.channel)) : null;
    const target = attribute(event, { byMessageId, latest }, this.#config.windowMs);
    if (!target) return count(state.events, 'unattributed');
    const ledger = await this.#ledger(tx, target.scheduleId);
    if (!ledger) return count(state.events, (await tx.get(CLOSED + target.scheduleId)) !== undefined ? 'closed_send' : 'unknown_send');
    // Deduplicated per send (the ledger keeps the ids it applied): an event id is unique to the
    // send it answers, while senders do reuse ids across the sends of one message id.
    const { ledger: next, verdict } = withEvent(ledger, event, this.#config);
    if (verdict !== 'applied') return count(state.events, verdict);
    await this.#write(tx, ledger, next, state);
    if (event.eventType === 'DELIVERY') {
      const key = latestKey(next.recipientId, next.campaignId, next.channel);
      const current = await this.#latest(tx, key);
      if (current?.scheduleId === next.scheduleId) tx.put(key, Buffer.from(JSON.stringify({ ...current, deliveredAt: next.deliveredAt })));
    }
    count(state.events, target.rule);
  }

  /**
   * Erasure: the recipient's open sends and attribution indexes go (they never produce an outcome,
   * and their late records are ignored as those of a closed send), and every outcome already
   * emitted for the recipient gets a tombstone on the compacted outcomes topic, so compaction
   * removes it. The campaign aggregates name no recipient and keep their counts.
   */
  async #erase(recipientId: string, tx: StateTransaction, emit: Emit, state: OutcomesPartitionState): Promise<void> {
    const prefix = `${RECIPIENT}${recipientId}\0`;
    const keys = new Set<string>();
    for await (const [key] of tx.store.entries({ gte: prefix, lt: `${prefix}\xff` })) keys.add(key);
    for (const [key, value] of tx.dirty) if (key.startsWith(prefix) && value !== null) keys.add(key);
    const now = this.#clock();
    for (const key of keys) {
      const scheduleId = key.slice(prefix.length);
      tx.delete(key);
      const ledger = await this.#ledger(tx, scheduleId);
      if (ledger) {
        tx.delete(SEND + scheduleId);
        tx.delete(`${DUE}${pad(closeAt(ledger, this.#config))}:${scheduleId}`);
        if (ledger.messageId) tx.delete(MESSAGE + ledger.messageId);
        tx.put(CLOSED + scheduleId, Buffer.from(String(now)));
        tx.put(`${CLOSED_BY}${pad(now)}:${scheduleId}`, EMPTY);
        state.uncommittedOpen--;
        count(state.sends, 'erased');
      } else {
        emit({ topic: this.#config.common.topics.outcomes, message: { key: scheduleId, value: null, headers: { 'sto-schedule-id': scheduleId } } });
        count(state.sends, 'erased_outcome');
      }
    }
    const latest = `${LATEST}${recipientId}\0`;
    for await (const [key] of tx.store.entries({ gte: latest, lt: `${latest}\xff` })) tx.delete(key);
    for (const key of tx.dirty.keys()) if (key.startsWith(latest)) tx.delete(key);
  }

  async #ledger(tx: StateTransaction, scheduleId: string): Promise<SendLedger | null> {
    const bytes = await tx.get(SEND + scheduleId);
    if (!bytes) return null;
    try {
      return decodeLedger(bytes);
    } catch (error) {
      // An unreadable record starts fresh: the send's later records rebuild what they can.
      this.#corrupt.push({ partition: tx.partition, key: SEND + scheduleId, bytes, reason: errorMessage(error) });
      tx.delete(SEND + scheduleId);
      return null;
    }
  }

  async #latest(tx: StateTransaction, key: string): Promise<LatestSend | null> {
    const bytes = await tx.get(key);
    if (!bytes) return null;
    try {
      return JSON.parse(bytes.toString('utf8')) as LatestSend;
    } catch {
      return null;
    }
  }

  async #write(tx: StateTransaction, before: SendLedger | null, after: SendLedger, state: OutcomesPartitionState): Promise<void> {
    tx.put(SEND + after.scheduleId, encodeLedger(after));
    const dueBefore = before ? closeAt(before, this.#config) : null;
    const dueAfter = closeAt(after, this.#config);
    if (dueBefore !== dueAfter) {
      if (dueBefore !== null) tx.delete(`${DUE}${pad(dueBefore)}:${after.scheduleId}`);
      tx.put(`${DUE}${pad(dueAfter)}:${after.scheduleId}`, EMPTY);
    }
    if (after.messageId && !before?.messageId) tx.put(MESSAGE + after.messageId, Buffer.from(after.scheduleId));
    if (!before) {
      tx.put(`${RECIPIENT}${after.recipientId}\0${after.scheduleId}`, EMPTY);
      state.uncommittedOpen++;
    }
  }

  async onOpen(store: PartitionStore): Promise<OutcomesPartitionState> {
    const open = await store.countEntries({ gte: SEND, lt: `${SEND}\xff` });
    this.#metrics.open.inc(open);
    return { open, uncommittedOpen: 0, events: new Map(), sends: new Map(), closed: new Map(), published: 0 };
  }

  onClose(_partition: number, state: OutcomesPartitionState): void {
    this.#metrics.open.dec(state.open);
    state.open = 0;
    this.onAbort(_partition, state);
  }

  onAbort(_partition: number, state: OutcomesPartitionState): void {
    state.uncommittedOpen = 0;
    state.events.clear();
    state.sends.clear();
    state.closed.clear();
    state.published = 0;
  }

  /** Counted only once committed: a batch or pass that fails is done again from its start. */
  afterCommit(_partition: number, state: OutcomesPartitionState): void {
    state.open += state.uncommittedOpen;
    this.#metrics.open.inc(state.uncommittedOpen);
    for (const [outcome, n] of state.events) this.#metrics.events.inc({ outcome }, n);
    for (const [source, n] of state.sends) this.#metrics.sends.inc({ source }, n);
    for (const [status, n] of state.closed) this.#metrics.closed.inc({ status }, n);
    this.#metrics.aggregatesPublished.inc(state.published);
    state.uncommittedOpen = 0;
    state.events.clear();
    state.sends.clear();
    state.closed.clear();
    state.published = 0;
  }

  async nextWakeUp(store: PartitionStore): Promise<number | null> {
    let next: number | null = null;
    for await (const [key] of store.entries({ gte: DUE, lt: `${DUE}\xff`, limit: 1 })) next = Number(key.slice(DUE.length, DUE.length + 15));
    for await (const [key] of store.entries({ gte: CLOSED_BY, lt: `${CLOSED_BY}\xff`, limit: 1 })) {
      const forgetAt = Number(key.slice(CLOSED_BY.length, CLOSED_BY.length + 15)) + this.#config.closedRetentionMs;
      next = next === null ? forgetAt : Math.min(next, forgetAt);
    }
    return next;
  }

  /** Closes the sends whose window has passed (up to a batch) and forgets closed ids past the retention. */
  async punctuate({ tx, emit, now, quarantine }: PunctuationContext, state: OutcomesPartitionState): Promise<{ more: boolean }> {
    const batch = this.#config.closeBatch;
    const due: string[] = [];
    for await (const [key] of tx.store.entries({ gte: DUE, lt: `${DUE}${pad(now + 1)}`, limit: batch })) due.push(key);
    const touched = new Map<string, CampaignAggregate>();
    for (const dueKey of due) {
      tx.delete(dueKey);
      const scheduleId = dueKey.slice(DUE.length + 16);
      const bytes = await tx.get(SEND + scheduleId);
      if (!bytes) continue;
      let ledger: SendLedger;
      try {
        ledger = decodeLedger(bytes);
      } catch (error) {
        this.#metrics.quarantined.inc();
        quarantine(SEND + scheduleId, bytes, errorMessage(error));
        tx.delete(SEND + scheduleId);
        state.uncommittedOpen--;
        continue;
      }
      const outcome = outcomeOf(ledger, this.#config, now);
      emit({
        topic: this.#config.common.topics.outcomes,
        message: { key: scheduleId, value: this.#codec.encode(this.#outcomeWriter, outcome), headers: { 'sto-schedule-id': scheduleId } },
      });
      const aggregateKey = `${AGGREGATE}${ledger.campaignId}\0${ledger.channel}`;
      let aggregate = touched.get(aggregateKey);
      if (!aggregate) {
        aggregate = await this.#aggregate(tx, aggregateKey, ledger.campaignId, ledger.channel, quarantine);
        touched.set(aggregateKey, aggregate);
      }
      addOutcome(aggregate, outcome);
      tx.delete(SEND + scheduleId);
      if (ledger.messageId && (await tx.get(MESSAGE + ledger.messageId))?.toString('utf8') === scheduleId) tx.delete(MESSAGE + ledger.messageId);
      const latest = latestKey(ledger.recipientId, ledger.campaignId, ledger.channel);
      if ((await this.#latest(tx, latest))?.scheduleId === scheduleId) tx.delete(latest);
      tx.put(CLOSED + scheduleId, Buffer.from(String(now)));
      tx.put(`${CLOSED_BY}${pad(now)}:${scheduleId}`, EMPTY);
      state.uncommittedOpen--;
      count(state.closed, outcome.status);
    }
    // Each touched partial is published once per pass, whole: the topic keeps its latest value.
    for (const [key, aggregate] of touched) {
      const bytes = encodeAggregate(aggregate);
      tx.put(key, bytes);
      emit({ topic: this.#config.common.topics.campaignAggregates, message: { key: partialKey(aggregate.campaignId, aggregate.channel, tx.partition), value: bytes } });
      state.published++;
    }
    let forgotten = 0;
    for await (const [key] of tx.store.entries({ gte: CLOSED_BY, lt: `${CLOSED_BY}${pad(now - this.#config.closedRetentionMs + 1)}`, limit: batch })) {
      tx.delete(key);
      tx.delete(CLOSED + key.slice(CLOSED_BY.length + 16));
      forgotten++;
    }
    return { more: due.length >= batch || forgotten >= batch };
  }

  async #aggregate(tx: StateTransaction, key: string, campaignId: string, channel: string, quarantine: PunctuationContext['quarantine']): Promise<CampaignAggregate> {
    const bytes = await tx.get(key);
    if (!bytes) return emptyAggregate(campaignId, channel);
    try {
      return decodeAggregate(bytes);
    } catch (error) {
      this.#metrics.quarantined.inc();
      quarantine(key, bytes, errorMessage(error));
      return emptyAggregate(campaignId, channel);
    }
  }
}

function count(counts: Map<string, number>, label: string): void {
  counts.set(label, (counts.get(label) ?? 0) + 1);
}
