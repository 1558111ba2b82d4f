import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4 groups a produce request's messages by partition by copying the partition's
 * array for every message (`[...current, message]`): quadratic in the messages per partition.
 * The engine sends each commit's changelog (thousands of records, one partition) as one request,
 * and the grouping alone took 10-20% of its CPU time in a profile (an unmerged upstream pull
 * request, tulios/kafkajs#1576, reports the same). This module puts a linear grouping with the
 * same result in the module cache before kafkajs loads; services/shared/kafka/kafkajs.ts imports
 * it first, and every module of the project takes kafkajs' values from there.
 */
const require = createRequire(import.meta.url);
const GROUPING_MODULE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const SEND_MESSAGES_MODULE = require.resolve('kafkajs/src/producer/sendMessages.js');

interface GroupingInput<M> {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly M[];
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number;
}

/** The same result as kafkajs' own grouping (partition → messages in their order), in one pass. */
export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupingInput<M>): Record<number, M[]> {
  const grouped: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return grouped;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (grouped[partition] ??= []).push(message);
  }
  return grouped;
}

function install(): boolean {
  // Too late once kafkajs' producer has taken its reference to the original.
  if (require.cache[SEND_MESSAGES_MODULE]) return require(GROUPING_MODULE) === groupMessagesPerPartition;
  require(GROUPING_MODULE);
  const cached = require.cache[GROUPING_MODULE];
  if (!cached) return false;
  cached.exports = groupMessagesPerPartition;
  return true;
}

/** Whether kafkajs' producer uses the linear grouping in this process. */
export const linearGroupingInstalled = install();

/** The grouping function kafkajs' producer will use (for tests). */
export function kafkajsGrouping(): unknown {
  return require(GROUPING_MODULE);
}
