import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { UNKNOWN_SYMBOL, type CampaignSettings } from '../shared/contracts/record-types.ts';
import type { SchemaCodec } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, errorMessage, StoError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { GlobalTable } from '../shared/stream/global-table.ts';
import { validateCampaignSettings } from '../model/campaign-settings.ts';
import type { EngineConfig } from './config.ts';
import type { EngineMetrics } from './engine-metrics.ts';

const MAGIC_BYTE = 0;
const RETRY_MS = 1_000;

/**
 * The campaigns' settings every engine instance decides with: the whole settings topic (keyed by
 * campaignId, a tombstone deletes a campaign) held in a global table. Records are Avro in the
 * Confluent framing; decoding needs the registry (asynchronous), so the table keeps the bytes and
 * this class decodes each change in arrival order, checking it with the same validator as the
 * publish command. A record that does not decode or validate is counted and skipped: the
 * campaign keeps its last valid settings. `start()` returns once the topic is read and decoded.
 */
export class CampaignSettingsTable {
  readonly #table: GlobalTable<Buffer>;
  readonly #codec: SchemaCodec;
  readonly #logger: Logger;
  readonly #metrics: EngineMetrics;
  readonly #topic: string;
  readonly #settings = new Map<string, CampaignSettings>();
  /** Decodes run one after another, so a campaign's later record always lands after its earlier one. */
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: { config: Readonly<EngineConfig>; kafka: Kafka; codec: SchemaCodec; logger: Logger; registry: Registry; metrics: EngineMetrics }) {
    this.#codec = options.codec;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#topic = options.config.common.topics.campaignSettings;
    this.#table = new GlobalTable<Buffer>({
      name: 'campaign-settings',
      topic: this.#topic,
      topicVariable: 'STO_TOPIC_CAMPAIGN_SETTINGS',
      kafka: options.kafka,
      logger: options.logger,
      registry: options.registry,
      decode: (key, value) => {
        if (key === '') throw new Error('a campaign settings record without a key (campaignId)');
        if (value.length < 5 || value.readUInt8(0) !== MAGIC_BYTE) throw new Error('not in the Confluent wire format');
        return value;
      },
      onChange: (key) => this.#enqueue(key),
    });
  }

  /** The campaign's settings as last read, or null when it has none. */
  readonly get = (campaignId: string): CampaignSettings | null => this.#settings.get(campaignId) ?? null;

  get size(): number {
    return this.#settings.size;
  }

  async start(): Promise<void> {
    await this.#table.start();
    // Records read while loading did not call onChange.
    for (const [key] of this.#table.entries()) this.#enqueue(key);
    await this.#queue;
  }

  #enqueue(campaignId: string): void {
    this.#queue = this.#queue.then(() => this.#refresh(campaignId));
  }

  /** Brings one campaign up to what the table holds now (its latest record). */
  async #refresh(campaignId: string): Promise<void> {
    if (this.#stopped) return;
    const bytes = this.#table.get(campaignId);
    if (bytes === undefined) {
      if (this.#settings.delete(campaignId)) this.#logger.info({ campaignId }, 'campaign settings deleted');
      return;
    }
    let record: CampaignSettings;
    try {
      record = await this.#codec.decode<CampaignSettings>('campaignSettings', bytes);
    } catch (error) {
      if (error instanceof StoError && error.retriable) {
        // The registry is away: try again shortly, in order (a later change is queued behind it).
        this.#logger.warn({ campaignId, reason: errorMessage(error) }, 'campaign settings not decoded yet: the registry is unavailable');
        setTimeout(() => this.#enqueue(campaignId), RETRY_MS).unref();
        return;
      }
      return this.#skip(campaignId, errorMessage(error));
    }
    const validation = validateCampaignSettings(withoutUnknownSymbols(record), `campaign ${campaignId}`);
    if (!validation.ok) return this.#skip(campaignId, validation.problems.join('; '));
    if (validation.settings.campaignId !== campaignId) return this.#skip(campaignId, `its campaignId ${validation.settings.campaignId} differs from its key`);
    this.#settings.set(campaignId, validation.settings);
    this.#logger.info({ campaignId }, 'campaign settings applied');
  }

  #skip(campaignId: string, reason: string): void {
    this.#metrics.campaignSettingsInvalid.inc();
    this.#logger.warn({ campaignId, reason: reason.slice(0, 2_000) }, 'campaign settings record skipped: the campaign keeps its last valid settings');
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#table.stop();
  }
}

/** A symbol of a newer writer reads as not set (enum fields) or is left out (lists). */
function withoutUnknownSymbols(record: CampaignSettings): Record<string, unknown> {
  const known = <T>(value: T) => (value === UNKNOWN_SYMBOL ? null : value);
  const urgency = record.urgency && {
    ...record.urgency,
    urgentChannels: record.urgency.urgentChannels?.filter((channel) => channel !== UNKNOWN_SYMBOL) ?? null,
    transactionalChannels: record.urgency.transactionalChannels?.filter((channel) => channel !== UNKNOWN_SYMBOL) ?? null,
  };
  return {
    ...record,
    quietHoursPolicy: known(record.quietHoursPolicy),
    objective: known(record.objective),
    urgency,
    stopOn: record.stopOn?.filter((rule) => rule.eventType !== UNKNOWN_SYMBOL) ?? null,
  };
}
