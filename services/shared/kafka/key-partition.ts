import { Partitioners } from './kafkajs.ts';

/** kafkajs' default partitioner is the Java client's murmur2 one; only its hash is used here. */
const PARTITIONER = Partitioners.DefaultPartitioner();

/**
 * The partition a producer with the default (Java-compatible murmur2) partitioner writes `key`
 * to, in a topic of `partitions` partitions: where a recipient's state lives.
 */
export function partitionOfKey(key: string, partitions: number): number {
  if (!(Number.isInteger(partitions) && partitions > 0)) throw new RangeError(`a topic has at least one partition, not ${partitions}`);
  return PARTITIONER({
    topic: 'key-partition',
    partitionMetadata: Array.from({ length: partitions }, (_, id) => ({ partitionId: id, leader: 0, replicas: [0], isr: [0] })) as never,
    message: { key, value: null },
  });
}
