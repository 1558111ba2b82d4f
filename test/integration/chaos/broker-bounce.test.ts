import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { dumpEngineState } from '../../../services/engine/state-dump.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { ChaosStack, waitFor } from '../support/chaos-stack.ts';
import { burstSends, chaosSeed, committedEverything, dumpDifferences, engagementEvents, oracleDump, readReleases, releaseProblems } from '../support/chaos-fixture.ts';
import { EngineOracle, engineEnv, produceRecords } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';

// A stack of this file's own (ports 50100-50199): its broker is killed with SIGKILL mid-run.
const stack = new ChaosStack('chaos-bounce', { kafka: 50192, controller: 50193, registry: 50181, registryManagement: 50190 });
Object.assign(process.env, stack.settings);

const EVENTS = 100_000;
const BURST = 20_000;

describe('chaos: the Kafka broker is SIGKILLed and restarted', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let kafka: Kafka;
  let codec: SchemaCodec;

  beforeAll(() => {
    stack.start();
    const common = stackConfig();
    kafka = createKafka(common.kafka, createLogger('chaos-bounce', 'error'));
    codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  }, 300_000);

  afterAll(async () => {
    // Every clean-up runs even when one fails; the stack stops last.
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error('chaos clean-up failed:', error));
    stack.stop();
  }, 180_000);

  /** SIGKILL the broker, keep it down for `downMs` (the fault's length), start it on the same logs. */
  async function bounce(downMs: number): Promise<void> {
    await stack.killBroker();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await stack.startBroker();
  }

  it('engine: state after a broker SIGKILL mid-ingest of 100k events equals the in-memory oracle', async () => {
    const { seed, random } = chaosSeed('broker-bounce/engine');
    const topics = uniqueTopics('chaos-engine');
    await createTestTopics(topics, 6);
    const dir = await temporaryDir('chaos-engine');
    cleanups.push(dir.remove);
    const env = { ...topicEnv(topics), ...engineEnv(topics, dir.path) };
    const now = Date.now();
    const input = engagementEvents(EVENTS, 20_000, seed, random, now);
    const oracle = new EngineOracle(compileEngineConfig({ ...process.env, ...env }), 6);
    for (const event of input) await oracle.applyEngagement(event, now);
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: input, key: (event) => event.recipientId });

    const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env, adminPort: 50_111, logPath: `${dir.path}.log` });
    cleanups.push(() => engine.stop());
    engine.start();
    await engine.waitReady(120_000);
    const killAt = Math.floor(random.between(0.15, 0.6) * EVENTS);
    const downMs = Math.floor(random.between(2_000, 8_000));
    console.log(`broker-bounce/engine: SIGKILL after ${killAt} events, down ${downMs} ms`);
    const consumed = () => engine.metric('sto_stream_records_total', { topic: topics.engagement });
    await waitFor(async () => (await consumed()) >= killAt, 180_000, `engine consumed ${killAt} events (seed ${seed})`, 20);
    const atKill = await consumed();
    await bounce(downMs);
    expect(atKill, `the kill came after the ingest ended (seed ${seed})`).toBeLessThan(EVENTS);

    await waitFor(() => committedEverything(kafka, env.STO_ENGINE_GROUP_ID!, topics.engagement).catch(() => false), 300_000, `engine committed all ${EVENTS} events after the bounce (seed ${seed}; log ${dir.path}.log)`, 1_000);
    expect(engine.running, `the engine process exited during the bounce (seed ${seed}; log ${dir.path}.log)`).toBe(true);
    await engine.stop();
    const actual = await dumpEngineState(dir.path);
    const expected = await oracleDump(oracle);
    expect(dumpDifferences(actual, expected), `engine state differs from the oracle (seed ${seed})`).toEqual([]);
    expect(actual.length).toBe(expected.length);
  }, 600_000);

  it('delay: a same-instant burst released through a broker SIGKILL: each send once in effect, none early', async () => {
    const { seed, random } = chaosSeed('broker-bounce/delay');
    const topics = uniqueTopics('chaos-delay');
    await createTestTopics(topics, 4);
    const dir = await temporaryDir('chaos-delay');
    cleanups.push(dir.remove);
    const delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: dir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', STO_DELAY_RELEASE_BATCH: '200' },
      adminPort: 50_112,
      logPath: `${dir.path}.log`,
    });
    cleanups.push(() => delay.stop());
    delay.start();
    await delay.waitReady(120_000);
    const sends = burstSends(BURST, seed, Date.now() + 30_000);
    await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: sends, key: (send) => send.recipientId });
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === BURST, 60_000, `delay service holds all ${BURST} sends before they are due`);

    const killAt = Math.floor(random.between(0.05, 0.5) * BURST);
    const downMs = Math.floor(random.between(2_000, 8_000));
    console.log(`broker-bounce/delay: SIGKILL after ${killAt} releases, down ${downMs} ms`);
    await waitFor(async () => (await delay.metric('sto_delay_releases_total')) >= killAt, 120_000, `delay released ${killAt} sends (seed ${seed})`, 10);
    const atKill = await delay.metric('sto_delay_releases_total');
    await bounce(downMs);
    // Passes follow each other while full batches remain: below the burst size, one was running.
    expect(atKill, `the kill came after the burst was released (seed ${seed})`).toBeLessThan(BURST);

    const released = await readReleases({ kafka, codec, topic: topics.ready, expected: BURST, timeoutMs: 240_000 });
    const { problems, duplicates } = releaseProblems(sends, released);
    console.log(`broker-bounce/delay: ${released.length} records, ${duplicates} duplicates (seed ${seed})`);
    expect(problems, `release checks failed (seed ${seed}; log ${dir.path}.log)`).toEqual([]);
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === 0, 60_000, 'pending gauge back to 0');
    expect(delay.running, `the delay process exited during the bounce (seed ${seed})`).toBe(true);
  }, 600_000);
});
