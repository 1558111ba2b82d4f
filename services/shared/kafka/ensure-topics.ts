import type { Admin } from 'kafkajs';
import { ConfigError } from '../errors.ts';
import type { TopicSpec } from './topic-plan.ts';

/**
 * Creates missing topics and checks that existing ones have the planned partition count
 * (co-partitioning breaks silently otherwise). Idempotent.
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<{ created: string[]; existing: string[] }> {
  const existingNames = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existingNames.has(spec.name));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((spec) => ({
        topic: spec.name,
        numPartitions: spec.partitions,
        replicationFactor: -1,
        configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  const present = specs.filter((spec) => existingNames.has(spec.name));
  if (present.length > 0) {
    const metadata = await admin.fetchTopicMetadata({ topics: present.map((spec) => spec.name) });
    for (const topic of metadata.topics) {
      const spec = present.find((candidate) => candidate.name === topic.name);
      if (spec && topic.partitions.length !== spec.partitions) {
        throw new ConfigError(
          'STO_PARTITIONS',
          `topic ${topic.name} exists with ${topic.partitions.length} partitions, expected ${spec.partitions}; co-partitioned topics must match`,
        );
      }
    }
  }
  return { created: missing.map((spec) => spec.name), existing: present.map((spec) => spec.name) };
}
