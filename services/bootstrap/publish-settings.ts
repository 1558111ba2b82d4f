import type { CampaignSettings } from '../shared/contracts/record-types.ts';
import { createSchemaCodec } from '../shared/contracts/schema-codec.ts';
import { ErrorCode, errorMessage, StoError } from '../shared/errors.ts';
import { valueSubject } from '../shared/contracts/schema-files.ts';
import { assertBrokerReachable, createKafka } from '../shared/kafka/kafka-client.ts';
import type { Logger } from '../shared/logger.ts';
import type { BootstrapConfig } from './config.ts';

/**
 * Writes campaigns' settings to the compacted settings topic, keyed by campaignId (the latest
 * record per campaign is its settings), or a tombstone per campaign to delete. The schema is the
 * one the bootstrap registered; every record is acknowledged by all in-sync replicas before this
 * returns. `updatedAt` is stamped with `now`.
 */
export async function publishSettings(
  config: Readonly<BootstrapConfig>,
  logger: Logger,
  change: { publish: CampaignSettings[] } | { delete: string[] },
  now: number = Date.now(),
): Promise<{ topic: string; published: string[]; deleted: string[] }> {
  const topic = config.common.topics.campaignSettings;
  await assertBrokerReachable(config.common.kafka, logger);
  const producer = createKafka(config.common.kafka, logger).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    if ('delete' in change) {
      await producer.send({ topic, acks: -1, messages: change.delete.map((campaignId) => ({ key: campaignId, value: null })) });
      return { topic, published: [], deleted: change.delete };
    }
    const codec = createSchemaCodec(config.common.registry);
    const writer = await codec.writer('campaignSettings', valueSubject(topic)).catch((error: unknown) => {
      throw new StoError(ErrorCode.DEPENDENCY_UNREACHABLE, `${errorMessage(error)}; the settings topic and its schema are created by the bootstrap step (npm run bootstrap)`, { cause: error, retriable: false });
    });
    const messages = change.publish.map((settings) => ({ key: settings.campaignId, value: codec.encode(writer, { ...settings, updatedAt: now }) }));
    await producer.send({ topic, acks: -1, messages });
    return { topic, published: change.publish.map((settings) => settings.campaignId), deleted: [] };
  } finally {
    await producer.disconnect();
  }
}
