import type { EngagementEvent } from '../shared/contracts/record-types.ts';
import { ErrorCode, InputError, StoError, errorMessage, pureStep } from '../shared/errors.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import { applyEngagement, decodeProfile, emptyProfile, encodeProfile, mergeProfile, type Profile, type Signal } from '../model/profile.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../model/score.ts';
import { localSlotOf, resolveZone } from '../model/time/zones.ts';
import type { EngineConfig } from './config.ts';
import { RecentEventIds } from './recent-event-ids.ts';
import { decodeRecipient, encodeRecipient, type RecipientRecord } from './recipient-record.ts';

export const ENGINE_KEYS = {
  /** The recipient's counters and recent event ids (services/engine/recipient-record.ts). */
  recipient: (recipientId: string) => `r:${recipientId}`,
  global: 'a:global',
  cohort: (zone: string) => `a:zone:${zone}`,
} as const;

/** What a store key holds, for metrics (never the recipient id itself). */
export function storeKeyKind(key: string): 'recipient' | 'aggregate' | 'erasure_marker' | 'other' {
  if (key.startsWith('r:')) return 'recipient';
  if (key.startsWith('a:')) return 'aggregate';
  if (key.startsWith('e:')) return 'erasure_marker';
  return 'other';
}

export type EngagementOutcome = 'applied' | 'duplicate' | 'too_old' | 'too_new' | 'ignored';

/** A stored value that does not decode: its key and bytes, for the dead-letter record. */
export interface CorruptValue {
  partition: number;
  key: string;
  bytes: Buffer;
  reason: string;
}

export interface RecipientEvidence {
  profile: Profile;
  cohort: Profile | null;
  global: Profile | null;
}

/**
 * The engine's state: each recipient's decayed counters and recent event ids, the time-zone
 * cohort and global aggregates of the partition. Reads and writes go through the transaction.
 */
export class RecipientState {
  readonly #config: Readonly<EngineConfig>;
  readonly params: ModelParams;
  readonly #aggregateParams: ModelParams;
  /** Aggregates kept decoded per partition (they change with every event); written back per batch. */
  readonly #aggregates = new Map<number, Map<string, { profile: Profile; dirty: boolean }>>();
  readonly #onCorrupt: (value: CorruptValue) => void;

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
    this.#aggregateParams = { ...this.params, refGranularityMs: 86_400_000 };
  }

  async #aggregate(key: string, tx: StateTransaction): Promise<{ profile: Profile; dirty: boolean }> {
    let partition = this.#aggregates.get(tx.partition);
    if (!partition) {
      partition = new Map();
      this.#aggregates.set(tx.partition, partition);
    }
    let entry = partition.get(key);
    if (!entry) {
      const stored = await this.#load(key, tx);
      // A quarantined aggregate restarts empty and is written back at the next flush.
      entry = stored === 'corrupt' ? { profile: emptyProfile(), dirty: true } : { profile: stored ?? emptyProfile(), dirty: false };
      partition.set(key, entry);
    }
    return entry;
  }

  /** Writes the changed aggregates into the transaction (once per batch, not per event). */
  flush(tx: StateTransaction): void {
    for (const [key, entry] of this.#aggregates.get(tx.partition) ?? []) {
      if (!entry.dirty) continue;
      tx.put(key, Buffer.from(encodeProfile(entry.profile)));
      entry.dirty = false;
    }
  }

  /** Forgets the decoded aggregates of a partition (batch failed, or partition closed). */
  forget(partition: number): void {
    this.#aggregates.delete(partition);
  }

  async #load(key: string, tx: StateTransaction): Promise<Profile | null | 'corrupt'> {
    const bytes = await tx.get(key);
    return bytes ? this.#decodeOrQuarantine(key, bytes, decodeProfile, tx) : null;
  }

  /** The recipient's record; null when there is none or when the stored one was quarantined. */
  async #loadRecipient(recipientId: string, tx: StateTransaction): Promise<RecipientRecord | null> {
    const key = ENGINE_KEYS.recipient(recipientId);
    const bytes = await tx.get(key);
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
        return this.#isMachineOpen(event) ? 'MACHINE_OPEN' : 'HUMAN_OPEN';
      case 'CLICK':
        return 'CLICK';
      case 'CONVERSION':
        return 'CONVERSION';
      case 'SESSION':
        return 'SESSION';
    }
  }

  /** Apple Mail Privacy Protection and proxies open mail on delivery, without a person. */
  #isMachineOpen(event: EngagementEvent): boolean {
    if (event.machineOpen === true) return true;
    if (event.machineOpen === false) return false;
    if (event.userAgent && this.#config.machineOpenUserAgent.test(event.userAgent)) return true;
    return event.deliveredAt !== null && event.occurredAt - event.deliveredAt >= 0 && event.occurredAt - event.deliveredAt <= this.#config.machineOpenSeconds * 1_000;
  }

  async applyEngagement(event: EngagementEvent, recordTimestamp: number, tx: StateTransaction): Promise<{ outcome: EngagementOutcome; signal: string }> {
    const signal = this.#signalOf(event);
    if (!signal) return { outcome: 'ignored', signal: event.eventType.toLowerCase() };
    const label = signal.toLowerCase();
    // Event time is judged against the record's own timestamp, so a replay judges identically.
    if (Number.isFinite(recordTimestamp)) {
      if (event.occurredAt < recordTimestamp - this.#config.lookBackMs) return { outcome: 'too_old', signal: label };
      if (event.occurredAt > recordTimestamp + this.#config.maxFutureMs) return { outcome: 'too_new', signal: label };
    }
    const record = (await this.#loadRecipient(event.recipientId, tx)) ?? { profile: emptyProfile(), recent: RecentEventIds.empty() };
    const { profile, recent } = record;
    let zone = profile.timeZone ?? this.#config.defaultTimeZone;
    if (event.timeZone) {
      const resolved = resolveZone(event.timeZone);
      if (!resolved.ok) throw new InputError(ErrorCode.INVALID_FIELD, `timeZone: ${resolved.reason}`);
      zone = resolved.zone;
    }
    if (recent.seenOrRecord(event.eventId, event.occurredAt, this.#config.dedupWindowMs, this.#config.dedupMaxIds)) {
      return { outcome: 'duplicate', signal: label };
    }
    const slot = pureStep('the local slot', () => localSlotOf(event.occurredAt, zone));
    const input = { slot: slot.hourOfWeek, channel: event.channel, signal, atMs: event.occurredAt, localDay: slot.localDay };
    const { firstOfDay } = pureStep('the counters update', () => applyEngagement(profile, input, this.params));
    if (event.timeZone) profile.timeZone = zone;
    tx.put(ENGINE_KEYS.recipient(event.recipientId), encodeRecipient(record));
    for (const key of [ENGINE_KEYS.cohort(zone), ENGINE_KEYS.global]) {
      const aggregate = await this.#aggregate(key, tx);
      applyEngagement(aggregate.profile, { ...input, firstOfDay }, this.#aggregateParams);
      aggregate.dirty = true;
    }
    return { outcome: 'applied', signal: label };
  }

  async evidenceFor(recipientId: string, zone: string | null, tx: StateTransaction): Promise<RecipientEvidence> {
    const profile = (await this.#loadRecipient(recipientId, tx))?.profile ?? emptyProfile();
    const cohortZone = zone ?? profile.timeZone;
    return {
      profile,
      cohort: cohortZone ? (await this.#aggregate(ENGINE_KEYS.cohort(cohortZone), tx)).profile : null,
      global: (await this.#aggregate(ENGINE_KEYS.global, tx)).profile,
    };
  }

  /** Removes the recipient and their contribution to the aggregates; returns the keys removed. */
  async erase(recipientId: string, tx: StateTransaction): Promise<string[]> {
    const profileKey = ENGINE_KEYS.recipient(recipientId);
    const profile = (await this.#loadRecipient(recipientId, tx))?.profile;
    const removed = [profileKey];
    if (profile) {
      const cohortKeys = profile.timeZone ? [ENGINE_KEYS.cohort(profile.timeZone)] : [ENGINE_KEYS.cohort(this.#config.defaultTimeZone)];
      for (const key of [...cohortKeys, ENGINE_KEYS.global]) {
        const aggregate = await this.#aggregate(key, tx);
        mergeProfile(aggregate.profile, profile, -1, this.#aggregateParams);
        aggregate.dirty = true;
      }
    }
    for (const key of removed) tx.delete(key);
    return removed;
  }
}
