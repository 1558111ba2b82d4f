import { COMPATIBILITY, SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { TopicSpec } from '../kafka/topic-plan.ts';
import { readSchemaJson, valueSubject } from './schema-files.ts';

/**
 * Registers the value schema of every topic that has a contract, with an explicit BACKWARD
 * compatibility level. Services never register: they only look their schema ids up.
 */
export async function registerSchemas(registry: SchemaRegistry, specs: TopicSpec[]): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const spec of specs) {
    if (!spec.contract) continue;
    const subject = valueSubject(spec.name);
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(readSchemaJson(spec.contract)) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    ids[subject] = id;
  }
  return ids;
}
