import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartition, kafkajsGrouping, linearGroupingInstalled } from '../../../services/shared/kafka/kafkajs-grouping.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { Partitioners } from '../../../services/shared/kafka/kafkajs.ts';

describe('linear grouping of produce messages per partition', () => {
  it('is what kafkajs producers use once the project has loaded kafkajs', () => {
    expect(typeof createKafka).toBe('function');
    expect(linearGroupingInstalled).toBe(true);
    expect(kafkajsGrouping()).toBe(groupMessagesPerPartition);
  });

  it('groups like kafkajs: each partition its messages, in their order, with the murmur2 partitioner', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, partition) => ({ partitionId: partition, leader: 0 }));
    const messages = Array.from({ length: 5_000 }, (_, i) => ({ key: `recipient-${i % 97}`, value: String(i) }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: partitioner as never });
    const expected: Record<number, typeof messages> = {};
    for (const message of messages) {
      const partition = partitioner({ topic: 't', partitionMetadata: partitionMetadata as never, message });
      expected[partition] = [...(expected[partition] ?? []), message];
    }
    expect(grouped).toEqual(expected);
    expect(Object.keys(grouped).length).toBe(6);
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: partitioner as never })).toEqual({});
  });
});
