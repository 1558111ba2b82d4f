import { COMPATIBILITY, SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { RegistryConfig } from '../config/common-config.ts';
import type { TopicSpec } from '../kafka/topic-plan.ts';
import { registryFailure } from './schema-codec.ts';
import { readSchemaJson, valueSubject } from './schema-files.ts';

/**
 * Registers the value schema of every topic that has a contract, with an explicit BACKWARD
 * compatibility level. Services never register: they only look their schema ids up. Each request
 * is retried by the client (registering the same content again returns the same id); a failure
 * after that names the subject, the registry and the budget when `config` is given.
 */
export async function registerSchemas(registry: SchemaRegistry, specs: TopicSpec[], config?: RegistryConfig): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const spec of specs) {
    if (!spec.contract) continue;
    const subject = valueSubject(spec.name);
    try {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(readSchemaJson(spec.contract)) },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      );
      ids[subject] = id;
    } catch (error) {
      if (!config) throw error;
      throw registryFailure(`registering the schema of ${spec.contract} under subject ${subject}`, config, error);
    }
  }
  return ids;
}
