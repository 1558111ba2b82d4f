import { createSchemaRegistryClient, assertRegistryReachable } from '../shared/contracts/schema-codec.ts';
import { registerSchemas } from '../shared/contracts/register-schemas.ts';
import { assertBrokerReachable, createKafka } from '../shared/kafka/kafka-client.ts';
import { ensureTopics } from '../shared/kafka/ensure-topics.ts';
import { topicPlan } from '../shared/kafka/topic-plan.ts';
import type { Logger } from '../shared/logger.ts';
import type { BootstrapConfig } from './config.ts';

/** Creates every topic explicitly and registers every schema with BACKWARD compatibility. */
export async function bootstrap(config: BootstrapConfig, logger: Logger): Promise<{ created: string[]; schemaIds: Record<string, number> }> {
  await assertBrokerReachable(config.common.kafka, logger);
  await assertRegistryReachable(config.common.registry);
  const specs = topicPlan(config.common.topics, config.partitions);
  const admin = createKafka(config.common.kafka, logger).admin();
  await admin.connect();
  try {
    const { created } = await ensureTopics(admin, specs);
    const schemaIds = await registerSchemas(createSchemaRegistryClient(config.common.registry), specs, config.common.registry);
    return { created, schemaIds };
  } finally {
    await admin.disconnect();
  }
}
