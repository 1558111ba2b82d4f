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
    // kafkajs' own waitForLeaders can wait without end on a busy broker; wait here, bounded.
    await admin.createTopics({
      waitForLeaders: false,
      timeout: 30_000,
      topics: missing.map((spec) => ({
        topic: spec.name,
        numPartitions: spec.partitions,
        replicationFactor: -1,
        configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  if (missing.length > 0) await waitForLeaders(admin, missing.map((spec) => spec.name), LEADER_WAIT_MS);
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

const LEADER_WAIT_MS = 60_000;

/** Until every partition of `topics` has a leader; a clear error after `timeoutMs`. */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metadata = await admin.fetchTopicMetadata({ topics }).catch(() => null);
    const ready = metadata !== null && topics.every((name) => {
      const topic = metadata.topics.find((candidate) => candidate.name === name);
      return topic !== undefined && topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0);
    });
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`created topics have no partition leaders after ${timeoutMs / 1000} s: ${topics.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
