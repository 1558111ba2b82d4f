import { AdminServer } from '../shared/admin-server.ts';
import { deadLetterTopic } from '../shared/config/common-config.ts';
import { createSchemaCodec, waitForRegistry } from '../shared/contracts/schema-codec.ts';
import { valueSubject } from '../shared/contracts/schema-files.ts';
import { DeadLetterPublisher } from '../shared/kafka/dead-letter-publisher.ts';
import { assertBrokerReachable, createKafka } from '../shared/kafka/kafka-client.ts';
import { ErrorCode, StoError } from '../shared/errors.ts';
import { exitAfter, exitOnStartupFailure, installSignalHandlers, stopOnce } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics-registry.ts';
import { PartitionedRunner } from '../shared/stream/partitioned-runner.ts';
import { compileDelayConfig, type DelayConfig } from './config.ts';
import { DelayHandler } from './delay-handler.ts';
import { DelayMetrics } from './delay-metrics.ts';
import { releaseClock } from './release-clock.ts';
import { CampaignStops } from './campaign-stops.ts';
import { EngagementWatermark, requiredEnd } from './engagement-watermark.ts';
import { ReleaseFence } from './release-fence.ts';
import { serviceRunnerOptions } from '../shared/stream/service-runner-options.ts';

/** The delay service's composition root. */
async function main(config: Readonly<DelayConfig>): Promise<void> {
  const logger = createLogger('delay', config.common.logLevel);
  const registry = createMetricsRegistry('delay');
  // The admin port first: a port in use stops start-up at once, and /livez answers while start-up waits.
  const admin = new AdminServer({ host: config.common.adminHost, port: config.common.adminPort, registry });
  const adminPort = await admin.start();
  admin.waitingFor('Kafka broker');
  await assertBrokerReachable(config.common.kafka, logger);
  admin.waitingFor('schema registry');

  const { topics } = config.common;
  const clock = releaseClock(config.clockSpeedup);
  const kafka = createKafka(config.common.kafka, logger);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const codec = createSchemaCodec(config.common.registry);
  const [readyWriter, unreleasedWriter, deadLetterWriter] = await waitForRegistry(config.common.registry, logger, () =>
    Promise.all([
      codec.writer('ready', valueSubject(topics.ready)),
      codec.writer('unreleased', valueSubject(topics.unreleased)),
      codec.writer('deadLetter', valueSubject(deadLetterTopic(topics.scheduled))),
    ]),
  );
  const metrics = new DelayMetrics(registry);
  const deadLetters = new DeadLetterPublisher({
    producer,
    codec,
    writer: deadLetterWriter,
    service: 'delay',
    clock,
    onPublished: (topic, code) => metrics.deadLetters.inc({ topic, code }),
  });
  // The end offsets of the engagement topic, for the stop watermark (one admin connection, kept).
  const kafkaAdmin = kafka.admin();
  const watermark = new EngagementWatermark({
    clock,
    fetchEnds: async () => new Map((await kafkaAdmin.fetchTopicOffsets(topics.engagement)).map(({ partition, high, low }) => [partition, requiredEnd(Number(high), Number(low))])),
  });
  const fence = new ReleaseFence();
  const campaignStops = new CampaignStops({ topic: topics.campaignStops, kafka, logger, registry, fence });
  const handler = new DelayHandler({
    watermark,
    campaignStops,
    fence,
    config,
    codec,
    readyWriter,
    unreleasedWriter,
    metrics,
    logger,
    clock,
    quarantineLetter: (partition, key, value, reason) =>
      deadLetters.letter(
        { topic: topics.delayChangelog, partition, offset: '-1', timestamp: String(clock()), key: Buffer.from(key), value },
        new StoError(ErrorCode.CORRUPT_STATE, `stored value of key ${JSON.stringify(key)} cannot be read: ${reason}`),
        deadLetterTopic(topics.scheduled),
      ),
  });
  const runner = new PartitionedRunner({
    kafka,
    producer,
    ...serviceRunnerOptions(config),
    // The engagement topic is co-partitioned with the scheduled one (both keyed by recipient id).
    topics: [topics.scheduled, topics.erasure, topics.engagement],
    changelogTopic: topics.delayChangelog,
    handler,
    deadLetters,
    logger,
    registry,
    clock,
    clockRate: config.clockSpeedup,
    // Exit non-zero so a supervisor restarts the process; its state and offsets are durable.
    onFatal: (error) => exitAfter(stop, logger, error),
  });
  admin.serve(runner);

  const stop = stopOnce(
    [
      () => runner.stop(),
      () => campaignStops.stop(),
      () => kafkaAdmin.disconnect().catch(() => undefined),
      () => producer.disconnect(),
      () => admin.stop(),
    ],
    logger,
    'delay service stopped',
  );
  installSignalHandlers(stop, logger);

  await producer.connect();
  await kafkaAdmin.connect();
  admin.waitingFor('campaign stops');
  await campaignStops.start();
  await runner.start();
  logger.info({ adminPort, instanceId: config.instanceId, groupId: config.groupId }, 'delay service started');
}

try {
  await main(compileDelayConfig(process.env));
} catch (error) {
  exitOnStartupFailure('delay', error);
}
