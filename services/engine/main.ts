import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AdminServer } from '../shared/admin-server.ts';
import { createSchemaCodec, waitForRegistry } from '../shared/contracts/schema-codec.ts';
import { valueSubject } from '../shared/contracts/schema-files.ts';
import { adminExposureProblem, deadLetterTopic } from '../shared/config/common-config.ts';
import { ConfigError } from '../shared/errors.ts';
import { DeadLetterPublisher } from '../shared/kafka/dead-letter-publisher.ts';
import { assertBrokerReachable, createKafka } from '../shared/kafka/kafka-client.ts';
import { exitAfter, exitOnStartupFailure, installSignalHandlers, stopOnce } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics-registry.ts';
import { PartitionedRunner } from '../shared/stream/partitioned-runner.ts';
import { compileEngineConfig, type EngineConfig } from './config.ts';
import { EngineHandler, scheduledStepOf } from './engine-handler.ts';
import { EngineMetrics } from './engine-metrics.ts';
import { DEFAULT_MODEL_PARAMS } from '../model/score.ts';
import { SendTimeDecider, warmUpDecisions } from './send-time-decider.ts';
import { GlobalPriors } from './global-priors.ts';
import { CampaignSettingsTable } from './campaign-settings-table.ts';
import { serviceRunnerOptions } from '../shared/stream/service-runner-options.ts';
import { GroupRouting } from '../shared/stream/group-routing.ts';
import { QueryApi } from './query-api.ts';
import { RecipientQuery } from './recipient-query.ts';

/**
 * Synthetic decisions at start-up (0.15 s of CPU for the decisions alone; 0.25-0.45 s with the
 * decoding and encoding on a busy machine): after 2,000 the next decisions cost what they do in
 * steady state; after 300, the first 1,000 real ones still cost about twice as much.
 */
const DECISION_WARM_UP_ROUNDS = 2_000;

/** The engine's composition root: config, logger, metrics, clients, stores, wiring, signals. */
async function main(config: Readonly<EngineConfig>): Promise<void> {
  const logger = createLogger('engine', config.common.logLevel);
  const registry = createMetricsRegistry('engine');
  // The admin port first: a port in use stops start-up at once, and /livez answers while start-up waits.
  const exposure = adminExposureProblem(config.common);
  if (exposure) throw new ConfigError('STO_ADMIN_TOKEN', exposure);
  const admin = new AdminServer({ host: config.common.adminHost, port: config.common.adminPort, registry, apiToken: config.common.adminToken });
  const adminPort = await admin.start();
  const adminUrl = config.common.adminAdvertisedUrl ?? advertisedAdminUrl(config.common.adminHost, adminPort);
  admin.waitingFor('Kafka broker');
  await assertBrokerReachable(config.common.kafka, logger);
  admin.waitingFor('schema registry');

  const { topics } = config.common;
  const kafka = createKafka(config.common.kafka, logger);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const codec = createSchemaCodec(config.common.registry);
  const writers = await waitForRegistry(config.common.registry, logger, async () => ({
    scheduled: await codec.writer('scheduled', valueSubject(topics.scheduled)),
    ready: await codec.writer('ready', valueSubject(topics.ready)),
    deadLetter: await codec.writer('deadLetter', valueSubject(deadLetterTopic(topics.engagement))),
  }));
  const metrics = new EngineMetrics(registry);
  const clock = () => Date.now();
  const deadLetters = new DeadLetterPublisher({
    producer,
    codec,
    writer: writers.deadLetter,
    service: 'engine',
    clock,
    onPublished: (topic, code) => metrics.deadLetters.inc({ topic, code }),
  });
  const priors = new GlobalPriors({ config, kafka, logger, registry, metrics });
  const campaignSettings = new CampaignSettingsTable({ config, kafka, codec, logger, registry, metrics });
  const handler = new EngineHandler({ config, codec, writers, metrics, logger, priors: priors.get, publishedDigest: priors.publishedDigest, campaignSettings: campaignSettings.get });
  // Recipients are keyed (and partitioned) on the engagement topic; its partitions are the group's.
  const routing = new GroupRouting({ kafka, groupId: config.groupId, topic: topics.engagement, logger });
  const runner = new PartitionedRunner({
    kafka,
    producer,
    ...serviceRunnerOptions(config),
    topics: [topics.engagement, topics.triggers, topics.erasure],
    changelogTopic: topics.engineChangelog,
    handler,
    deadLetters,
    logger,
    registry,
    // Exit non-zero so a supervisor restarts the process; its state and offsets are durable.
    onFatal: (error) => exitAfter(stop, logger, error),
    adminUrl,
    onMembershipChange: () => routing.invalidate(),
  });
  admin.serve(runner);
  const queryApi = new QueryApi({
    instanceId: config.instanceId,
    adminUrl,
    query: new RecipientQuery(config, priors.get, campaignSettings.get),
    readPartition: (partition, read) => runner.readPartition(partition, read),
    routing,
    logger,
    clock,
  });
  admin.mount('/recipients/', queryApi.handle);
  // The operator's page: static HTML and script that call the API above (no build step).
  admin.page('/', fileURLToPath(new URL('./query-page.html', import.meta.url)));

  const stop = stopOnce(
    [
      () => runner.stop(),
      () => routing.stop(),
      () => priors.stop(),
      () => campaignSettings.stop(),
      () => producer.disconnect(),
      () => admin.stop(),
    ],
    logger,
    'engine stopped',
  );
  installSignalHandlers(stop, logger);

  await producer.connect();
  // The priors of every partition are read before the first decision.
  admin.waitingFor('priors topic');
  await priors.start();
  // And every campaign's settings.
  admin.waitingFor('campaign settings topic');
  await campaignSettings.start();
  // Before joining the group (so before ready): the first triggers find the decision path compiled.
  const warmUpStarted = performance.now();
  const params = { ...DEFAULT_MODEL_PARAMS, halfLifeDays: config.halfLifeDays };
  const warmed = warmUpDecisions(new SendTimeDecider(config, params), params, Date.now(), DECISION_WARM_UP_ROUNDS, (trigger, decision, planned, settings) => {
    // The record and its Avro encoding as a decision is emitted (Avro's compiled writer is cold too).
    codec.encode(writers.scheduled, scheduledStepOf(trigger, decision, planned, settings, planned.trigger.channel));
  });
  logger.info({ decisions: warmed, ms: Math.round(performance.now() - warmUpStarted) }, 'decision path warmed up');
  await runner.start();
  logger.info({ adminPort, adminUrl, instanceId: config.instanceId, groupId: config.groupId }, 'engine started');
}

/** Where other instances reach this one's admin server when STO_ADMIN_ADVERTISED_URL is not set. */
function advertisedAdminUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

let config: Readonly<EngineConfig>;
try {
  config = compileEngineConfig(process.env);
  await main(config);
} catch (error) {
  exitOnStartupFailure('engine', error);
}
