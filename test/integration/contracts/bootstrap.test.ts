import type { Admin } from 'kafkajs';
import { ConfigResourceTypes } from '../../../services/shared/kafka/kafkajs.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap } from '../../../services/bootstrap/bootstrap.ts';
import type { BootstrapConfig } from '../../../services/bootstrap/config.ts';
import { valueSubject } from '../../../services/shared/contracts/schema-files.ts';
import { ConfigError } from '../../../services/shared/errors.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { topicPlan } from '../../../services/shared/kafka/topic-plan.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { stackConfig, uniqueTopics } from '../support/stack.ts';

const logger = createLogger('bootstrap-test', 'warn');
let admin: Admin;

beforeAll(async () => {
  admin = createKafka(stackConfig().kafka, logger).admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
});

function configFor(label: string, partitions: number): BootstrapConfig {
  return { common: { ...stackConfig(), topics: uniqueTopics(label) }, partitions };
}

async function partitionCounts(names: string[]): Promise<Record<string, number>> {
  const { topics } = await admin.fetchTopicMetadata({ topics: names });
  return Object.fromEntries(topics.map((topic) => [topic.name, topic.partitions.length]));
}

describe('bootstrap', () => {
  it('creates the planned topics and registers the schemas once; a second run creates nothing', async () => {
    const config = configFor('bootstrap-twice', 3);
    const plan = topicPlan(config.common.topics, config.partitions);

    const first = await bootstrap(config, logger);
    expect([...first.created].sort()).toEqual(plan.map((spec) => spec.name).sort());
    expect(Object.keys(first.schemaIds).sort()).toEqual(plan.filter((spec) => spec.contract).map((spec) => valueSubject(spec.name)).sort());

    const second = await bootstrap(config, logger);
    expect(second.created).toEqual([]);
    expect(second.schemaIds).toEqual(first.schemaIds);

    const counts = await partitionCounts(plan.map((spec) => spec.name));
    expect(counts).toEqual(Object.fromEntries(plan.map((spec) => [spec.name, spec.partitions])));

    // Topic settings come from the plan too: the changelogs are compacted.
    const changelog = plan.find((spec) => spec.name === config.common.topics.engineChangelog);
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: changelog?.name ?? '', configNames: ['cleanup.policy'] }],
    });
    expect(described.resources[0]?.configEntries[0]?.configValue).toBe('compact');
  });

  it('refuses to run against existing topics with another partition count, and changes nothing', async () => {
    const config = configFor('bootstrap-mismatch', 2);
    await bootstrap(config, logger);

    const error = await bootstrap({ ...config, partitions: 4 }, logger).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('STO_PARTITIONS');
    expect((error as ConfigError).message).toMatch(/exists with 2 partitions, expected 4/);

    const plan = topicPlan(config.common.topics, 2);
    expect(await partitionCounts(plan.map((spec) => spec.name))).toEqual(Object.fromEntries(plan.map((spec) => [spec.name, spec.partitions])));
  });
});
