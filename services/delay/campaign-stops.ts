import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { CampaignStop } from '../shared/contracts/record-types.ts';
import { readerType } from '../shared/contracts/schema-files.ts';
import type { Logger } from '../shared/logger.ts';
import { GlobalTable } from '../shared/stream/global-table.ts';
import type { ReleaseFence } from './release-fence.ts';

/** Confluent wire format: magic byte 0, then the 4-byte schema id. */
const HEADER_BYTES = 5;

/**
 * Decodes a campaign stop's Avro body with the contract's reader schema. The global table decodes
 * synchronously, so the writer's schema is not looked up: the contract has one version, and a
 * second one must resolve writer schemas here first.
 */
export function decodeCampaignStop(value: Buffer): CampaignStop {
  if (value.length < HEADER_BYTES || value.readUInt8(0) !== 0) throw new Error('not in the Confluent wire format');
  return CAMPAIGN_STOP_TYPE.fromBuffer(value.subarray(HEADER_BYTES)) as CampaignStop;
}
const CAMPAIGN_STOP_TYPE = readerType('campaignStop');

/**
 * The operators' campaign stops (the compacted topic sto.campaigns.stops.v1), read whole by every
 * delay instance as a global table. A change is applied through the release fence: never while a
 * release pass is between its checks and its commit.
 */
export class CampaignStops {
  readonly #table: GlobalTable<CampaignStop>;
  readonly #topic: string;

  constructor(options: { topic: string; kafka: Kafka; logger: Logger; registry: Registry; fence: ReleaseFence }) {
    this.#topic = options.topic;
    this.#table = new GlobalTable<CampaignStop>({
      name: 'campaign-stops',
      topic: options.topic,
      topicVariable: 'STO_TOPIC_CAMPAIGN_STOPS',
      kafka: options.kafka,
      logger: options.logger,
      registry: options.registry,
      decode: (_key, value) => decodeCampaignStop(value),
      applyWith: (apply) => options.fence.apply(apply),
      onChange: (campaignId, stop) => options.logger.info({ campaignId, stoppedAt: stop?.stoppedAt ?? null, stoppedBy: stop?.stoppedBy ?? null }, stop ? 'campaign stopped' : 'campaign stop lifted'),
    });
  }

  get(campaignId: string): CampaignStop | undefined {
    return this.#table.get(campaignId);
  }

  async start(): Promise<void> {
    await this.#table.start();
  }

  stop(): Promise<void> {
    return this.#table.stop();
  }
}
