import type { Kafka } from 'kafkajs';
import { expect } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { dumpEngineState } from '../../../services/engine/state-dump.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import type { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import { burstSends, chaosSeed, committedEverything, dumpDifferences, engagementEvents, oracleDump, readReleases, releaseProblems } from './chaos-fixture.ts';
import { waitFor } from './chaos-stack.ts';
import { EngineOracle, engineEnv, produceRecords } from './engine-fixture.ts';
import { freePort } from './free-port.ts';
import { createTestTopics, temporaryDir, topicEnv, uniqueTopics } from './stack.ts';

/** What a chaos file shares with its scenarios: clients of its own stack, and clean-ups run in its afterAll. */
export interface ChaosContext {
  kafka: Kafka;
  codec: SchemaCodec;
  cleanups: (() => Promise<unknown>)[];
}

export interface FaultScenario {
  /** Names the scenario in seeds, logs and topics, e.g. "broker-bounce/engine". */
  label: string;
  /** Environment for the service beyond its topics and state (e.g. brokers through a proxy). */
  env?: Record<string, string>;
  /** The fault starts once this share of the work is done, drawn from the seed. */
  faultAfter: [number, number];
  /** Injects the fault (and ends it) with the scenario's seeded randomness. */
  fault(random: SeededRandom): Promise<void>;
}

/**
 * An engine ingests `events` engagement events; the fault hits mid-ingest. Afterwards the engine's
 * state must equal the in-memory oracle's, and the engine must still be running.
 */
export async function engineIngestThroughFault(context: ChaosContext, scenario: FaultScenario, events: number): Promise<void> {
  const { kafka, codec, cleanups } = context;
  const { seed, random } = chaosSeed(scenario.label);
  const topics = uniqueTopics(scenario.label.replace('/', '-'));
  await createTestTopics(topics, 6);
  const dir = await temporaryDir(scenario.label.replace('/', '-'));
  cleanups.push(dir.remove);
  const env: Record<string, string> = { ...topicEnv(topics), ...engineEnv(topics, dir.path), ...scenario.env };
  const now = Date.now();
  const input = engagementEvents(events, 20_000, seed, random, now);
  const oracle = new EngineOracle(compileEngineConfig({ ...process.env, ...env }), 6);
  for (const event of input) await oracle.applyEngagement(event, now);
  await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: input, key: (event) => event.recipientId });

  const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env, adminPort: await freePort(), logPath: `${dir.path}.log` });
  cleanups.push(() => engine.stop());
  engine.start();
  await engine.waitReady(120_000);
  const faultAt = Math.floor(random.between(...scenario.faultAfter) * events);
  console.log(`${scenario.label}: fault after ${faultAt} events`);
  const consumed = () => engine.metric('sto_stream_records_total', { topic: topics.engagement });
  await waitFor(async () => (await consumed()) >= faultAt, 180_000, `engine consumed ${faultAt} events (seed ${seed})`, 20);
  const atFault = await consumed();
  await scenario.fault(random);
  expect(atFault, `the fault came after the ingest ended (seed ${seed})`).toBeLessThan(events);

  await waitFor(() => committedEverything(kafka, env.STO_ENGINE_GROUP_ID!, topics.engagement).catch(() => false), 300_000, `engine committed all ${events} events after the fault (seed ${seed}; log ${dir.path}.log)`, 1_000);
  expect(engine.running, `the engine process exited during the fault (seed ${seed}; log ${dir.path}.log)`).toBe(true);
  await engine.stop();
  const actual = await dumpEngineState(dir.path);
  const expected = await oracleDump(oracle);
  expect(dumpDifferences(actual, expected), `engine state differs from the oracle (seed ${seed})`).toEqual([]);
  expect(actual.length).toBe(expected.length);
}

/**
 * A delay service holds a burst of `burst` sends due at one instant; the fault hits while a release
 * pass runs. Every send must be released, none early (by releasedAt and by the record timestamp),
 * a duplicate only as an identical copy, and the service must still be running.
 */
export async function delayBurstThroughFault(context: ChaosContext, scenario: FaultScenario, burst: number): Promise<void> {
  const { kafka, codec, cleanups } = context;
  const { seed, random } = chaosSeed(scenario.label);
  const topics = uniqueTopics(scenario.label.replace('/', '-'));
  await createTestTopics(topics, 4);
  const dir = await temporaryDir(scenario.label.replace('/', '-'));
  cleanups.push(dir.remove);
  const delay = new ChildService({
    name: 'delay',
    entry: ChildService.entry('delay'),
    env: { ...topicEnv(topics), ...scenario.env, STO_STATE_DIR: dir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', STO_DELAY_RELEASE_BATCH: '200' },
    adminPort: await freePort(),
    logPath: `${dir.path}.log`,
  });
  cleanups.push(() => delay.stop());
  delay.start();
  await delay.waitReady(120_000);
  const sends = burstSends(burst, seed, Date.now() + 30_000);
  await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: sends, key: (send) => send.recipientId });
  await waitFor(async () => (await delay.metric('sto_delay_pending')) === burst, 60_000, `delay service holds all ${burst} sends before they are due`);

  const faultAt = Math.floor(random.between(...scenario.faultAfter) * burst);
  console.log(`${scenario.label}: fault after ${faultAt} releases`);
  await waitFor(async () => (await delay.metric('sto_delay_releases_total')) >= faultAt, 120_000, `delay released ${faultAt} sends (seed ${seed})`, 10);
  const atFault = await delay.metric('sto_delay_releases_total');
  await scenario.fault(random);
  // Passes follow each other while full batches remain: below the burst size, one was running.
  expect(atFault, `the fault came after the burst was released (seed ${seed})`).toBeLessThan(burst);

  const released = await readReleases({ kafka, codec, topic: topics.ready, expected: burst, timeoutMs: 240_000 });
  const { problems, duplicates } = releaseProblems(sends, released);
  console.log(`${scenario.label}: ${released.length} records, ${duplicates} duplicates (seed ${seed})`);
  expect(problems, `release checks failed (seed ${seed}; log ${dir.path}.log)`).toEqual([]);
  await waitFor(async () => (await delay.metric('sto_delay_pending')) === 0, 60_000, 'pending gauge back to 0');
  expect(delay.running, `the delay process exited during the fault (seed ${seed})`).toBe(true);
}
