import { deadLetterTopic, type TopicsConfig } from '../config/common-config.ts';
import type { ContractName } from '../contracts/schema-files.ts';

export interface TopicSpec {
  name: string;
  partitions: number;
  config: Record<string, string>;
  /** Avro contract of the record values, or null for internal binary topics. */
  contract: ContractName | null;
}

const DAY_MS = 86_400_000;

/**
 * Every topic the pipeline uses, created explicitly (never by broker auto-create).
 * Engagement, triggers and erasure share one partition count: they are co-partitioned by
 * recipient id, so one engine instance owns partition i of all three. The changelogs mirror the
 * partitions of the inputs they back.
 */
export function topicPlan(topics: TopicsConfig, partitions: number): TopicSpec[] {
  const compacted = { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000', 'delete.retention.ms': String(7 * DAY_MS) };
  const inputs: TopicSpec[] = [
    { name: topics.engagement, partitions, config: { 'retention.ms': String(30 * DAY_MS) }, contract: 'engagement' },
    { name: topics.triggers, partitions, config: { 'retention.ms': String(14 * DAY_MS) }, contract: 'trigger' },
    { name: topics.erasure, partitions, config: { 'retention.ms': String(35 * DAY_MS) }, contract: 'erasure' },
    { name: topics.scheduled, partitions, config: { 'retention.ms': String(14 * DAY_MS) }, contract: 'scheduled' },
  ];
  const outputs: TopicSpec[] = [
    { name: topics.ready, partitions, config: { 'retention.ms': String(7 * DAY_MS) }, contract: 'ready' },
    { name: topics.unreleased, partitions, config: { 'retention.ms': String(30 * DAY_MS) }, contract: 'unreleased' },
    { name: topics.engineChangelog, partitions, config: compacted, contract: null },
    { name: topics.delayChangelog, partitions, config: compacted, contract: null },
    // Read whole by every engine instance (a global table): one partition keeps it one ordered log.
    { name: topics.priors, partitions: 1, config: compacted, contract: null },
    // Campaign settings, keyed by campaignId: also a global table, read whole by every engine instance.
    { name: topics.campaignSettings, partitions: 1, config: compacted, contract: 'campaignSettings' },
    // Read whole by every delay instance (a global table); one record per stopped campaign.
    { name: topics.campaignStops, partitions: 1, config: compacted, contract: 'campaignStop' },
    // One record per send, the latest per schedule id: compacted, so a re-emitted outcome replaces its first copy.
    { name: topics.outcomes, partitions, config: compacted, contract: 'outcome' },
    { name: topics.outcomesChangelog, partitions, config: compacted, contract: null },
    // Per-partition partials keyed by campaign, channel and partition, read whole by every report (a global table).
    { name: topics.campaignAggregates, partitions: 1, config: compacted, contract: null },
  ];
  const deadLetters: TopicSpec[] = inputs.map((input) => ({
    name: deadLetterTopic(input.name),
    partitions: 1,
    config: { 'retention.ms': String(30 * DAY_MS) },
    contract: 'deadLetter',
  }));
  return [...inputs, ...outputs, ...deadLetters];
}
