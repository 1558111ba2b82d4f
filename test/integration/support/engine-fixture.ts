import type { Kafka, Message } from 'kafkajs';
import type { TopicsConfig } from '../../../services/shared/config/common-config.ts';
import type { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { valueSubject } from '../../../services/shared/contracts/schema-files.ts';

// The in-process engine (state + decision code on in-memory stores) lives with the simulator,
// which runs its policy with it; the integration tests use it as their oracle.
export { InMemoryEngine as EngineOracle, partitionOf } from '../../../services/simulator/in-memory-engine.ts';

export async function produceRecords<T>(options: {
  kafka: Kafka;
  codec: SchemaCodec;
  topic: string;
  contract: 'engagement' | 'trigger' | 'erasure' | 'scheduled';
  records: T[];
  key: (record: T) => string;
}): Promise<void> {
  const writer = await options.codec.writer(options.contract, valueSubject(options.topic));
  const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const messages: Message[] = options.records.map((record) => ({ key: options.key(record), value: options.codec.encode(writer, record) }));
    for (let at = 0; at < messages.length; at += 2_000) await producer.send({ topic: options.topic, messages: messages.slice(at, at + 2_000) });
  } finally {
    await producer.disconnect();
  }
}

/** Reads every record of a topic until `count` arrived or the time is up. */
export async function readTopic<T>(options: {
  kafka: Kafka;
  codec: SchemaCodec;
  topic: string;
  contract: 'scheduled' | 'ready' | 'deadLetter';
  count: number;
  timeoutMs: number;
}): Promise<{ value: T; headers: Record<string, string>; partition: number; key: string }[]> {
  const consumer = options.kafka.consumer({ groupId: `${options.topic}.reader.${Date.now()}` });
  const records: { value: T; headers: Record<string, string>; partition: number; key: string }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
        records.push({ value: await options.codec.decode<T>(options.contract, message.value), headers, partition, key: message.key?.toString() ?? '' });
      },
    });
    const deadline = Date.now() + options.timeoutMs;
    while (records.length < options.count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    // A little longer, to see duplicates or extras that should not be there.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  } finally {
    await consumer.disconnect();
  }
  return records;
}

export function engineEnv(topics: TopicsConfig, stateDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STO_STATE_DIR: stateDir,
    STO_ENGINE_GROUP_ID: `${topics.engagement}.engine`,
    STO_LOG_LEVEL: 'warn',
    ...extra,
  };
}
