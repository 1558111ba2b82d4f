import { AdminServer } from '../shared/admin-server.ts';
import { adminExposureProblem, deadLetterTopic } from '../shared/config/common-config.ts';
import { createSchemaCodec, waitForRegistry } from '../shared/contracts/schema-codec.ts';
import { valueSubject } from '../shared/contracts/schema-files.ts';
import { ConfigError } from '../shared/errors.ts';
import { DeadLetterPublisher } from '../shared/kafka/dead-letter-publisher.ts';
import { assertBrokerReachable, createKafka } from '../shared/kafka/kafka-client.ts';
import { exitAfter, exitOnStartupFailure, installSignalHandlers, stopOnce } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics-registry.ts';
import { PartitionedRunner } from '../shared/stream/partitioned-runner.ts';
import { serviceRunnerOptions } from '../shared/stream/service-runner-options.ts';
import { CampaignReports } from './campaign-reports.ts';
import { compileOutcomesConfig, type OutcomesConfig } from './config.ts';
import { OutcomesHandler } from './outcomes-handler.ts';
import { OutcomesMetrics } from './outcomes-metrics.ts';

/** The outcomes stage's composition root. */
async function main(config: Readonly<OutcomesConfig>): Promise<void> {
  const logger = createLogger('outcomes', config.common.logLevel);
  const registry = createMetricsRegistry('outcomes');
  const exposure = adminExposureProblem(config.common);
  if (exposure) throw new ConfigError('STO_ADMIN_TOKEN', exposure);
  // The admin port first: a port in use stops start-up at once, and /livez answers while start-up waits.
  const admin = new AdminServer({ host: config.common.adminHost, port: config.common.adminPort, registry, apiToken: config.common.adminToken });
  const adminPort = await admin.start();
  admin.waitingFor('Kafka broker');
  await assertBrokerReachable(config.common.kafka, logger);
  admin.waitingFor('schema registry');

  const { topics } = config.common;
  const kafka = createKafka(config.common.kafka, logger);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const codec = createSchemaCodec(config.common.registry);
  const [outcomeWriter, deadLetterWriter] = await waitForRegistry(config.common.registry, logger, () =>
    Promise.all([codec.writer('outcome', valueSubject(topics.outcomes)), codec.writer('deadLetter', valueSubject(deadLetterTopic(topics.engagement)))]),
  );
  const metrics = new OutcomesMetrics(registry);
  const clock = acceleratedClock(config.clockSpeedup);
  const deadLetters = new DeadLetterPublisher({
    producer,
    codec,
    writer: deadLetterWriter,
    service: 'outcomes',
    clock,
    onPublished: (topic, code) => metrics.deadLetters.inc({ topic, code }),
  });
  const handler = new OutcomesHandler({ config, codec, outcomeWriter, metrics, deadLetters, clock });
  const runner = new PartitionedRunner({
    kafka,
    producer,
    ...serviceRunnerOptions(config),
    // Co-partitioned by recipient: partition i of each is one task, so a send's records meet in one store.
    topics: [topics.scheduled, topics.ready, topics.unreleased, topics.engagement, topics.erasure],
    changelogTopic: topics.outcomesChangelog,
    handler,
    deadLetters,
    logger,
    registry,
    clock,
    clockRate: config.clockSpeedup,
    // Exit non-zero so a supervisor restarts the process; its state and offsets are durable.
    onFatal: (error) => exitAfter(stop, logger, error),
  });
  const reports = new CampaignReports({ topic: topics.campaignAggregates, kafka, logger, registry, report: config });
  admin.serve(runner);
  admin.mount('/campaigns/', reports.handle);

  const stop = stopOnce(
    [
      () => runner.stop(),
      () => reports.stop(),
      () => producer.disconnect(),
      () => admin.stop(),
    ],
    logger,
    'outcomes stage stopped',
  );
  installSignalHandlers(stop, logger);

  await producer.connect();
  await runner.start();
  // The report view loads beside the runner: its route answers 503 until it has read the topic.
  void reports.start().catch((error: unknown) => logger.error({ err: error }, 'campaign aggregates did not load'));
  logger.info({ adminPort, instanceId: config.instanceId, groupId: config.groupId }, 'outcomes stage started');
}

/**
 * Real time, or (the demo, whose delay service runs on an accelerated clock) time running `speedup`
 * times faster from now, so windows close on the same simulated time the sends were released on.
 * Whole milliseconds: `closedAt` is an Avro long.
 */
function acceleratedClock(speedup: number): () => number {
  if (speedup === 1) return Date.now;
  const started = Date.now();
  return () => Math.floor(started + (Date.now() - started) * speedup);
}

try {
  await main(compileOutcomesConfig(process.env));
} catch (error) {
  exitOnStartupFailure('outcomes', error);
}
