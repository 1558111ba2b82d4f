import { afterAll, beforeAll } from 'vitest';
import { deadLetterTopic } from '../../../services/shared/config/common-config.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { valueSubject } from '../../../services/shared/contracts/schema-files.ts';
import { DeadLetterPublisher } from '../../../services/shared/kafka/dead-letter-publisher.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger, type Logger } from '../../../services/shared/logger.ts';
import { stackConfig, temporaryDir } from './stack.ts';

type LogLevel = Parameters<typeof createLogger>[1];

/**
 * What the stream runner's integration tests share: one producer (connected before the file's
 * tests, disconnected after), the codec, state folders removed and runners stopped after the
 * file. Call it inside `describe`: it registers its own beforeAll/afterAll there.
 */
export function runnerFixture(name: string, level: LogLevel = 'error') {
  const logger: Logger = createLogger(name, level);
  const common = stackConfig();
  const kafka = createKafka(common.kafka, logger);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const dirs: { remove: () => Promise<void> }[] = [];
  const running: { stop: () => Promise<void> }[] = [];

  beforeAll(async () => {
    await producer.connect();
  });

  afterAll(async () => {
    for (const runner of running) await runner.stop();
    await producer.disconnect();
    for (const dir of dirs) await dir.remove();
  });

  return {
    logger,
    common,
    kafka,
    producer,
    codec,
    /** A new Kafka client for a runner of its own (each runner owns its consumer's client). */
    client: () => createKafka(common.kafka, logger),
    /** A fresh state folder, removed after the file. */
    async stateDir(label: string): Promise<string> {
      const dir = await temporaryDir(label);
      dirs.push(dir);
      return dir.path;
    },
    /** The dead-letter publisher a runner of `sourceTopic` uses (its letters go to `sourceTopic`'s dead-letter topic). */
    async deadLetters(sourceTopic: string): Promise<DeadLetterPublisher> {
      return new DeadLetterPublisher({ producer, codec, writer: await codec.writer('deadLetter', valueSubject(deadLetterTopic(sourceTopic))), service: 'test', clock: Date.now });
    },
    /** Stops `runner` after the file's tests (in the order tracked). */
    track<T extends { stop: () => Promise<void> }>(runner: T): T {
      running.push(runner);
      return runner;
    },
  };
}
