import { UNKNOWN_SYMBOL, type EngagementEvent, type ReceivedEngagementEvent } from '../shared/contracts/record-types.ts';
import { isMachineOpen } from '../shared/engagement/machine-open.ts';
import { ErrorCode, InputError, StoError, errorMessage, pureStep } from '../shared/errors.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import { applyEngagement, decayTo, decodeProfile, emptyProfile, encodeProfile, mergeProfile, type Profile, type Signal } from '../model/profile.ts';
import type { PartitionStore } from '../shared/stream/partition-store.ts';
import { decodeMarker, encodeMarker, ERASURE_KEYS, type ErasureMarker } from './erasure-marker.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../model/score.ts';
import { localSlotOf } from '../model/time/local-slot.ts';
import { resolveTimeZone } from '../model/time/time-zone.ts';
import type { EngineConfig } from './config.ts';
import { RecentEventIds } from './recent-event-ids.ts';
import { decodeRecipient, encodeRecipient, newRecipientRecord, type RecipientRecord } from './recipient-record.ts';

export const ENGINE_KEYS = {
  /** The recipient's counters and recent event ids (services/engine/recipient-record.ts). */
  recipient: (recipientId: string) => `r:${recipientId}`,
  global: 'a:global',
  cohort: (zone: string) => `a:zone:${zone}`,
  /** How many distinct recipients an aggregate pools (a 4-byte count beside the aggregate). */
  recipients: (aggregateKey: string) => `n:${aggregateKey}`,
} as const;

/** An aggregate with the number of distinct recipients it pools (k-anonymity is judged on it). */
export interface PooledAggregate {
  profile: Profile;
  recipients: number;
}

export function encodeRecipientCount(recipients: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(recipients);
  return bytes;
}

export function decodeRecipientCount(bytes: Buffer): number {
  if (bytes.length !== 4) throw new RangeError(`a recipient count is 4 bytes, not ${bytes.length}`);
  return bytes.readUInt32BE(0);
}

/** What a store key holds, for metrics (never the recipient id itself). */
export function storeKeyKind(key: string): 'recipient' | 'aggregate' | 'erasure_marker' | 'other' {
  if (key.startsWith('r:')) return 'recipient';
  if (key.startsWith('a:') || key.startsWith('n:')) return 'aggregate';
  if (key.startsWith('e:')) return 'erasure_marker';
  return 'other';
}

/** The decay of aggregates (their reference time on a day grid); sums of them across partitions use it too. */
export function aggregateParams(config: Pick<EngineConfig, 'halfLifeDays'>): ModelParams {
  return { ...DEFAULT_MODEL_PARAMS, halfLifeDays: config.halfLifeDays, refGranularityMs: 86_400_000 };
}

export type EngagementOutcome = 'applied' | 'duplicate' | 'too_old' | 'too_new' | 'ignored' | 'erased' | 'unknown_symbol';

/**
 * What an erasure leaves of an aggregate's cell, relative to what it took out, below which the
 * rest is rounding residue: 2%, plus half a grid step (0.034%) per day of rounding on each of
 * the two paths since the recipient's first event, at most 25%.
 */
const RESIDUE_SHARE_BASE = 0.02;
const RESIDUE_SHARE_PER_DAY = 0.0007;
const RESIDUE_SHARE_MAX = 0.25;
/** Expired erasure markers removed per erasure request (bounds the work of one record). */
const SWEEP_LIMIT = 1_000;

/** A stored value that does not decode: its key and bytes, for the dead-letter record. */
export interface CorruptValue {
  partition: number;
  key: string;
  bytes: Buffer;
  reason: string;
}

/** What a decision reads: the recipient's own profile and the priors (pooled across all partitions). */
export interface RecipientEvidence {
  profile: Profile;
  cohort: PooledAggregate | null;
  global: PooledAggregate | null;
}

interface AggregateEntry {
  profile: Profile;
  recipients: number;
  dirty: boolean;
}

/**
 * The engine's state: each recipient's decayed counters and recent event ids, the time-zone
 * cohort and global aggregates of the partition. Reads and writes go through the transaction.
 */
export class RecipientState {
  readonly #config: Readonly<EngineConfig>;
  readonly params: ModelParams;
  /** The aggregates' decay (a day's reference grid): also what sums of them across partitions use. */
  readonly aggregateParams: ModelParams;
  /** Aggregates kept decoded per partition (they change with every event); written back per batch. */
  readonly #aggregates = new Map<number, Map<string, AggregateEntry>>();
  /**
   * Per partition, the aggregate keys written by the last flush, until the commit; then returned
   * by `committed` (to the priors publisher), so what is published is committed state.
   */
  readonly #flushed = new Map<number, Set<string>>();
  /**
   * Per partition whose store held aggregates without recipient counts (written before counts
   * were kept): the counts rebuilt from the recipient records when it opened.
   */
  readonly #rebuiltCounts = new Map<number, Map<string, number>>();
  readonly #onCorrupt: (value: CorruptValue) => void;
  /**
   * Per opened partition, the erasure marker keys that may exist (a superset: added at once,
   * removed only after the commit that deleted them), so events of recipients never erased cost
   * no marker read. A partition without an entry (not opened through `open`) reads the marker.
   */
  readonly #markers = new Map<number, Set<string>>();
  readonly #markersRemoved = new Map<number, string[]>();

  /**
   * `onCorrupt` receives a stored value that does not decode. The key is deleted in the same
   * transaction and starts fresh, so one bad value costs its own history and nothing else (a
   * decode error thrown from here would be retried forever and stall the partition). Without a
   * callback, a corrupt value is an error.
   */
  constructor(config: Readonly<EngineConfig>, options: { onCorrupt?: (value: CorruptValue) => void } = {}) {
    this.#config = config;
    this.#onCorrupt =
      options.onCorrupt ??
      ((value) => {
        throw new StoError(ErrorCode.CORRUPT_STATE, value.reason);
      });
    this.params = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: config.halfLifeDays };
    this.aggregateParams = aggregateParams(config);
  }

  async #aggregate(key: string, tx: StateTransaction): Promise<AggregateEntry> {
    let partition = this.#aggregates.get(tx.partition);
    if (!partition) {
      partition = new Map();
      this.#aggregates.set(tx.partition, partition);
    }
    let entry = partition.get(key);
    if (!entry) {
      const stored = await this.#load(key, tx);
      // A quarantined aggregate restarts empty and is written back at the next flush.
      const profile = stored === 'corrupt' || stored === null ? emptyProfile() : stored;
      const countBytes = await tx.get(ENGINE_KEYS.recipients(key));
      let recipients = countBytes ? this.#decodeOrQuarantine(ENGINE_KEYS.recipients(key), countBytes, decodeRecipientCount, tx) : null;
      // A count lost (corrupt) or never written: the rebuilt one when the store had none, else 0
      // (the aggregate then counts as pooling too few recipients until others join).
      const rebuilt = this.#rebuiltCounts.get(tx.partition)?.get(key);
      const dirty = (recipients === null || recipients === 'corrupt') && rebuilt !== undefined && profile.events > 0;
      if (recipients === null || recipients === 'corrupt') recipients = dirty ? rebuilt! : 0;
      entry = { profile, recipients: profile.events > 0 ? recipients : 0, dirty };
      partition.set(key, entry);
    }
    return entry;
  }

  /** Writes the changed aggregates into the transaction (once per batch, not per event). */
  flush(tx: StateTransaction): void {
    let flushed = this.#flushed.get(tx.partition);
    for (const [key, entry] of this.#aggregates.get(tx.partition) ?? []) {
      if (!entry.dirty) continue;
      // An aggregate whose every contributor was erased is removed, not kept as an empty value.
      if (entry.profile.events === 0) {
        tx.delete(key);
        tx.delete(ENGINE_KEYS.recipients(key));
      } else {
        tx.put(key, Buffer.from(encodeProfile(entry.profile)));
        tx.put(ENGINE_KEYS.recipients(key), encodeRecipientCount(entry.recipients));
      }
      entry.dirty = false;
      if (!flushed) this.#flushed.set(tx.partition, (flushed = new Set()));
      flushed.add(key);
    }
  }

  /**
   * The aggregates a partition holds now (committed: call between batches), each with the number
   * of recipients it pools; null for a key whose aggregate was emptied.
   */
  async aggregates(keys: Iterable<string>, tx: StateTransaction): Promise<Map<string, PooledAggregate | null>> {
    const out = new Map<string, PooledAggregate | null>();
    for (const key of keys) {
      const entry = await this.#aggregate(key, tx);
      out.set(key, entry.profile.events > 0 ? { profile: entry.profile, recipients: entry.recipients } : null);
    }
    return out;
  }

  /** The aggregate keys held decoded in memory for a partition (some not yet written to its store). */
  cachedAggregateKeys(partition: number): string[] {
    return [...(this.#aggregates.get(partition)?.keys() ?? [])];
  }

  /** Every aggregate key a partition's store holds (after open: to publish them all once). */
  async aggregateKeys(store: PartitionStore): Promise<string[]> {
    const keys: string[] = [];
    for await (const [key] of store.entries({ gte: 'a:', lt: 'a;' })) keys.push(key);
    return keys;
  }

  /** Forgets the decoded aggregates of a partition (batch failed, or partition closed). */
  forget(partition: number): void {
    this.#aggregates.delete(partition);
    this.#markersRemoved.delete(partition);
    this.#flushed.delete(partition);
  }

  /** A partition's store was opened (after restore): learn which erasure markers it holds. */
  async open(store: PartitionStore): Promise<void> {
    const markers = new Set<string>();
    for await (const [key] of store.entries({ gte: 'e:', lt: 'e;' })) markers.add(key);
    this.#markers.set(store.partition, markers);
    await this.#rebuildCounts(store);
  }

  /**
   * A store written before recipient counts were kept has aggregates without counts: they are
   * rebuilt once from the recipient records (each counts in its global aggregate and in every
   * cohort it fed) and written with the aggregates at their next flush.
   */
  async #rebuildCounts(store: PartitionStore): Promise<void> {
    this.#rebuiltCounts.delete(store.partition);
    const counted = new Set<string>();
    for await (const [key] of store.entries({ gte: 'n:', lt: 'n;' })) counted.add(key.slice(2));
    let missing = false;
    for (const key of await this.aggregateKeys(store)) if (!counted.has(key)) missing = true;
    if (!missing) return;
    const counts = new Map<string, number>();
    const add = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
    for await (const [, value] of store.entries({ gte: 'r:', lt: 'r;' })) {
      let record: RecipientRecord;
      try {
        record = decodeRecipient(value);
      } catch {
        continue; // quarantined when its recipient is next read
      }
      if (record.profile.events === 0) continue;
      add(ENGINE_KEYS.global);
      for (const [zone] of this.#cohortContributions(record)) add(ENGINE_KEYS.cohort(zone));
    }
    this.#rebuiltCounts.set(store.partition, counts);
  }

  /**
   * The partition's batch was committed: markers it deleted are gone for good; the aggregate keys
   * it wrote are returned (committed now).
   */
  committed(partition: number): string[] {
    const flushed = this.#flushed.get(partition);
    this.#flushed.delete(partition);
    const removed = this.#markersRemoved.get(partition);
    this.#markersRemoved.delete(partition);
    const markers = this.#markers.get(partition);
    if (removed && markers) for (const key of removed) markers.delete(key);
    return flushed ? [...flushed] : [];
  }

  close(partition: number): void {
    this.forget(partition);
    this.#markers.delete(partition);
    this.#rebuiltCounts.delete(partition);
  }

  /** False when the partition's known markers rule an erasure of the recipient out (no read needed). */
  #mayBeErased(recipientId: string, partition: number): boolean {
    const known = this.#markers.get(partition);
    return !known || (known.size > 0 && known.has(ERASURE_KEYS.marker(recipientId)));
  }

  /**
   * The instant the recipient was erased at, while their marker lives (stream time: the input
   * record's timestamp); null when they were not erased or the marker expired (then deleted).
   */
  async erasedAt(recipientId: string, recordTimestamp: number, tx: StateTransaction): Promise<number | null> {
    const known = this.#markers.get(tx.partition);
    if (known && known.size === 0) return null;
    const key = ERASURE_KEYS.marker(recipientId);
    if (known && !known.has(key)) return null;
    const marker = await this.#loadMarker(key, tx);
    if (!marker) return null;
    if (Number.isFinite(recordTimestamp) && recordTimestamp >= marker.expiresAtMs) {
      this.#deleteMarker(key, marker, tx);
      return null;
    }
    return marker.erasedAtMs;
  }

  async #loadMarker(key: string, tx: StateTransaction): Promise<ErasureMarker | null> {
    const bytes = await tx.get(key);
    if (!bytes) return null;
    const marker = this.#decodeOrQuarantine(key, bytes, decodeMarker, tx);
    return marker === 'corrupt' ? null : marker;
  }

  #deleteMarker(key: string, marker: ErasureMarker, tx: StateTransaction): void {
    tx.delete(key);
    tx.delete(ERASURE_KEYS.expiry(key, marker.expiresAtMs));
    const removed = this.#markersRemoved.get(tx.partition) ?? [];
    removed.push(key);
    this.#markersRemoved.set(tx.partition, removed);
  }

  async #load(key: string, tx: StateTransaction): Promise<Profile | null | 'corrupt'> {
    const bytes = await tx.get(key);
    return bytes ? this.#decodeOrQuarantine(key, bytes, decodeProfile, tx) : null;
  }

  /** The recipient's record, to read only; null when there is none or when the stored one was quarantined. */
  async #loadRecipient(recipientId: string, tx: StateTransaction): Promise<RecipientRecord | null> {
    const key = ENGINE_KEYS.recipient(recipientId);
    const bytes = await tx.get(key);
    if (!bytes) return null;
    const record = this.#decodeOrQuarantine(key, bytes, decodeRecipient, tx);
    return record === 'corrupt' ? null : record;
  }

  /** The recipient's record under `key`, to change (null: none, or quarantined). */
  async #recipientToChange(key: string, tx: StateTransaction): Promise<RecipientRecord | null> {
    const found = tx.read(key);
    return this.#decodeRecipient(key, found instanceof Promise ? await found : found, tx);
  }

  #decodeRecipient(key: string, bytes: Buffer | null | undefined, tx: StateTransaction): RecipientRecord | null {
    if (!bytes) return null;
    const record = this.#decodeOrQuarantine(key, bytes, decodeRecipient, tx);
    return record === 'corrupt' ? null : record;
  }

  #decodeOrQuarantine<T>(key: string, bytes: Buffer, decode: (bytes: Buffer) => T, tx: StateTransaction): T | 'corrupt' {
    try {
      return decode(bytes);
    } catch (error) {
      tx.delete(key);
      this.#onCorrupt({ partition: tx.partition, key, bytes, reason: `stored value of ${key} does not decode (${errorMessage(error)}): quarantined, the key starts fresh` });
      return 'corrupt';
    }
  }

  #signalOf(event: EngagementEvent): Signal | null {
    switch (event.eventType) {
      case 'SEND':
        return 'EXPOSURE';
      case 'DELIVERY':
        return null;
      case 'OPEN':
        return isMachineOpen(event, this.#config) ? 'MACHINE_OPEN' : 'HUMAN_OPEN';
      case 'CLICK':
        return 'CLICK';
      case 'CONVERSION':
        return 'CONVERSION';
      case 'SESSION':
        return 'SESSION';
      // A sender's outcomes say nothing about when the recipient reads: no counters.
      case 'BOUNCE':
      case 'COMPLAINT':
      case 'UNSUBSCRIBE':
      case 'RESUBSCRIBE':
        return null;
    }
  }

  async applyEngagement(received: ReceivedEngagementEvent, recordTimestamp: number, tx: StateTransaction): Promise<{ outcome: EngagementOutcome; signal: string }> {
    // A channel or type a newer writer added (read as UNKNOWN) has no counters here: counted, skipped.
    if (received.channel === UNKNOWN_SYMBOL || received.eventType === UNKNOWN_SYMBOL) return { outcome: 'unknown_symbol', signal: received.eventType.toLowerCase() };
    const event = received as EngagementEvent;
    const signal = this.#signalOf(event);
    if (!signal) return { outcome: 'ignored', signal: event.eventType.toLowerCase() };
    const label = signal.toLowerCase();
    // Event time is judged against the record's own timestamp, so a replay judges identically.
    if (Number.isFinite(recordTimestamp)) {
      if (event.occurredAt < recordTimestamp - this.#config.lookBackMs) return { outcome: 'too_old', signal: label };
      if (event.occurredAt > recordTimestamp + this.#config.maxFutureMs) return { outcome: 'too_new', signal: label };
    }
    // The awaits below are taken only when the value is not in memory (see StateTransaction.read).
    if (this.#mayBeErased(event.recipientId, tx.partition)) {
      const erasedAt = await this.erasedAt(event.recipientId, recordTimestamp, tx);
      if (erasedAt !== null && event.occurredAt <= erasedAt) return { outcome: 'erased', signal: label };
    }
    const recipientKey = ENGINE_KEYS.recipient(event.recipientId);
    const found = tx.read(recipientKey);
    const record = this.#decodeRecipient(recipientKey, found instanceof Promise ? await found : found, tx) ?? { profile: emptyProfile(), ...newRecipientRecord() };
    const { profile, recent } = record;
    let zone = profile.timeZone ?? this.#config.defaultTimeZone;
    if (event.timeZone) {
      const resolved = resolveTimeZone(event.timeZone);
      if (!resolved.ok) throw new InputError(ErrorCode.INVALID_FIELD, `timeZone: ${resolved.reason}`);
      zone = resolved.zone.name;
    }
    if (recent.seenOrRecord(event.eventId, event.occurredAt, this.#config.dedupWindowMs, this.#config.dedupMaxIds)) {
      return { outcome: 'duplicate', signal: label };
    }
    const slot = pureStep('the local slot', () => localSlotOf(event.occurredAt, zone));
    const input = { slot: slot.hourOfWeek, channel: event.channel, signal, atMs: event.occurredAt, localDay: slot.localDay };
    const fed = this.#fedCohort(record);
    // A recipient counts once in the population and once in each cohort they ever fed (a cohort
    // fed before and fed again already counts them: its part is in `split`).
    const newToPopulation = fed === null;
    const newToCohort = fed !== zone && !(record.split?.has(zone) ?? false);
    if (fed !== null && fed !== zone) pureStep('the cohort bookkeeping', () => this.#switchCohort(record, fed, zone));
    const { firstOfDay } = pureStep('the counters update', () => applyEngagement(profile, input, this.params));
    record.cohort = zone;
    if (event.timeZone) profile.timeZone = zone;
    tx.put(recipientKey, encodeRecipient(record));
    const aggregateInput = { ...input, firstOfDay };
    const aggregates = this.#aggregates.get(tx.partition);
    const cohortKey = ENGINE_KEYS.cohort(zone);
    const cohort = aggregates?.get(cohortKey) ?? (await this.#aggregate(cohortKey, tx));
    applyEngagement(cohort.profile, aggregateInput, this.aggregateParams);
    if (newToCohort) cohort.recipients += 1;
    cohort.dirty = true;
    const population = aggregates?.get(ENGINE_KEYS.global) ?? (await this.#aggregate(ENGINE_KEYS.global, tx));
    applyEngagement(population.profile, aggregateInput, this.aggregateParams);
    if (newToPopulation) population.recipients += 1;
    population.dirty = true;
    return { outcome: 'applied', signal: label };
  }

  /**
   * The recipient's evidence: their own profile, and the priors from `priors` (the aggregates
   * summed over every partition, see prior-sums.ts), never this partition's own aggregates.
   */
  async evidenceFor(recipientId: string, zone: string | null, tx: StateTransaction, priors: (aggregateKey: string) => PooledAggregate | null): Promise<RecipientEvidence> {
    const profile = (await this.#loadRecipient(recipientId, tx))?.profile ?? emptyProfile();
    const cohortZone = zone ?? profile.timeZone;
    return {
      profile,
      cohort: cohortZone ? priors(ENGINE_KEYS.cohort(cohortZone)) : null,
      global: priors(ENGINE_KEYS.global),
    };
  }

  /** The cohort this record feeds now (records written before the bookkeeping: their zone, as then). */
  #fedCohort(record: RecipientRecord): string | null {
    if (record.cohort !== null) return record.cohort;
    return record.profile.events > 0 ? (record.profile.timeZone ?? this.#config.defaultTimeZone) : null;
  }

  /** What the recipient added to the cohort it feeds now: the profile less the other cohorts' parts. */
  #currentContribution(record: RecipientRecord): Profile {
    if (!record.split) return record.profile;
    const current = cloneProfile(record.profile);
    for (const part of record.split.values()) mergeProfile(current, part, -1, this.params);
    return current;
  }

  /**
   * Before the first event in another cohort: what went to the cohort fed so far is set apart,
   * and the new cohort's earlier part (if the recipient comes back to it) joins the current one.
   */
  #switchCohort(record: RecipientRecord, from: string, to: string): void {
    const split = new Map(record.split ?? []);
    split.set(from, record.split ? this.#currentContribution(record) : cloneProfile(record.profile));
    split.delete(to);
    record.split = split;
  }

  /** What the recipient added to each cohort aggregate, by zone. */
  #cohortContributions(record: RecipientRecord): [string, Profile][] {
    const current = this.#fedCohort(record);
    if (current === null) return [];
    return [[current, this.#currentContribution(record)], ...(record.split ?? [])];
  }

  /**
   * Erases a recipient: subtracts what they added from every cohort they fed and from the
   * global aggregate, deletes their record, and leaves an erasure marker so that their events
   * and triggers from before the erasure, consumed later, are ignored. The erasure instant is
   * the later of the request's `requestedAt` (at most STO_ENGINE_MAX_FUTURE_MINUTES after the
   * record timestamp) and the record timestamp. Returns the keys removed.
   */
  async erase(recipientId: string, requestedAt: number, recordTimestamp: number, tx: StateTransaction): Promise<string[]> {
    const recipientKey = ENGINE_KEYS.recipient(recipientId);
    const record = await this.#recipientToChange(recipientKey, tx);
    if (record) {
      // Only a recipient who fed aggregates counts in them (a record is written with its first event).
      const counted = this.#fedCohort(record) !== null;
      for (const [zone, contribution] of this.#cohortContributions(record)) await this.#subtract(ENGINE_KEYS.cohort(zone), contribution, tx);
      if (counted) await this.#subtract(ENGINE_KEYS.global, record.profile, tx);
    }
    tx.delete(recipientKey);
    const stamped = Number.isFinite(recordTimestamp);
    const erasedAtMs = stamped ? Math.max(recordTimestamp, Math.min(requestedAt, recordTimestamp + this.#config.maxFutureMs)) : requestedAt;
    await this.#sweepMarkers(stamped ? recordTimestamp : erasedAtMs, tx);
    const markerKey = ERASURE_KEYS.marker(recipientId);
    const previous = await this.#loadMarker(markerKey, tx);
    if (previous) tx.delete(ERASURE_KEYS.expiry(markerKey, previous.expiresAtMs));
    const marker = { erasedAtMs: Math.max(erasedAtMs, previous?.erasedAtMs ?? 0), expiresAtMs: erasedAtMs + this.#config.erasureMarkerMs };
    tx.put(markerKey, encodeMarker(marker));
    tx.put(ERASURE_KEYS.expiry(markerKey, marker.expiresAtMs), Buffer.alloc(0));
    this.#markers.get(tx.partition)?.add(markerKey);
    return [recipientKey];
  }

  async #subtract(key: string, contribution: Profile, tx: StateTransaction): Promise<void> {
    const aggregate = await this.#aggregate(key, tx);
    mergeProfile(aggregate.profile, contribution, -1, this.aggregateParams);
    aggregate.recipients = Math.max(0, aggregate.recipients - 1);
    aggregate.dirty = true;
    // The last contributor gone: nothing of them stays behind as rounding left-overs.
    if (aggregate.profile.events === 0) {
      aggregate.profile = emptyProfile();
      aggregate.recipients = 0;
      return;
    }
    // Aggregates and profiles round to the 16-bit log grid (0.07% steps) along different paths
    // (an aggregate is re-rounded at every daily decay, a profile at its own events), so a cell
    // that only this recipient fed keeps a residue that grows with the time since they fed it
    // (about 1% after three weeks in a test). What is left below that share of what was taken
    // out is dropped; at most that share of others' evidence in the same cell goes with it.
    const removed = cloneProfile(contribution);
    decayTo(removed, aggregate.profile.refMs, this.aggregateParams);
    const days = Math.max(0, aggregate.profile.refMs - contribution.firstSeenMs) / 86_400_000;
    const residueShare = Math.min(RESIDUE_SHARE_MAX, RESIDUE_SHARE_BASE + RESIDUE_SHARE_PER_DAY * days);
    for (const [index, value] of removed.cells) {
      const left = aggregate.profile.cells.get(index);
      if (left !== undefined && left <= value * residueShare) aggregate.profile.cells.delete(index);
    }
  }

  /** Removes markers that expired by `atMs` (committed ones, SWEEP_LIMIT at most). */
  async #sweepMarkers(atMs: number, tx: StateTransaction): Promise<void> {
    for await (const [expiryKey] of tx.store.entries({ ...ERASURE_KEYS.expiredRange(atMs), limit: SWEEP_LIMIT })) {
      if (tx.dirty.has(expiryKey)) continue;
      const markerKey = ERASURE_KEYS.markerOfExpiry(expiryKey);
      const marker = await this.#loadMarker(markerKey, tx);
      if (marker && marker.expiresAtMs > atMs) {
        tx.delete(expiryKey); // a stale index entry: the marker was renewed
        continue;
      }
      tx.delete(expiryKey);
      if (marker) this.#deleteMarker(markerKey, marker, tx);
    }
  }
}

function cloneProfile(profile: Profile): Profile {
  return decodeProfile(encodeProfile(profile));
}
