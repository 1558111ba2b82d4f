import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { dumpEngineState } from '../../../services/engine/state-dump.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { ChaosStack, waitFor } from '../support/chaos-stack.ts';
import { burstSends, chaosSeed, committedEverything, dumpDifferences, engagementEvents, oracleDump, readReleases, releaseProblems } from '../support/chaos-fixture.ts';
import { EngineOracle, engineEnv, produceRecords } from '../support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { Toxiproxy } from '../support/toxiproxy.ts';

// A stack of this file's own (ports 50200-50299). The services reach the broker only through
// Toxiproxy: the broker's second listener (PROXIED, port 50294) advertises the proxy's address
// (50295), so every connection a service opens, bootstrap or partition leader, goes through it.
// The test harness (topics, input, reading the output) uses the direct listener.
const stack = new ChaosStack('chaos-network', { kafka: 50292, controller: 50293, registry: 50281, registryManagement: 50290 });
const PROXIED_LISTENER = 50294;
const PROXY_PORT = 50295;
const PROXY = 'kafka';
Object.assign(process.env, stack.settings);

const EVENTS = 100_000;
const BURST = 20_000;

describe('chaos: the network between the services and the broker is cut, slowed and throttled', () => {
  const toxiproxy = new Toxiproxy(50274);
  const cleanups: (() => Promise<unknown>)[] = [];
  const throughProxy = { STO_KAFKA_BROKERS: `127.0.0.1:${PROXY_PORT}` };
  let kafka: Kafka;
  let codec: SchemaCodec;

  beforeAll(async () => {
    stack.start();
    await stack.stopBroker();
    stack.addProxiedListener(PROXIED_LISTENER, PROXY_PORT);
    await stack.startBroker();
    const logs = await temporaryDir('chaos-toxiproxy');
    cleanups.push(logs.remove);
    await toxiproxy.start(`${logs.path}/toxiproxy.log`);
    await toxiproxy.createProxy(PROXY, PROXY_PORT, PROXIED_LISTENER);
    const common = stackConfig();
    kafka = createKafka(common.kafka, createLogger('chaos-network', 'error'));
    codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
    // The first run on a machine also builds Toxiproxy (about 2 minutes).
  }, 600_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error('chaos clean-up failed:', error));
    await toxiproxy.stop();
    stack.stop();
  }, 180_000);

  it('a client that bootstraps through the proxy is told the proxy address for every broker', async () => {
    const viaProxy = createKafka(stackConfig(throughProxy).kafka, createLogger('chaos-network', 'error'));
    const admin = viaProxy.admin();
    await admin.connect();
    try {
      const { brokers } = await admin.describeCluster();
      expect(brokers.map((broker) => `${broker.host}:${broker.port}`)).toEqual([`127.0.0.1:${PROXY_PORT}`]);
    } finally {
      await admin.disconnect();
    }
  });

  /**
   * One seeded round of network faults, one after another: a cut (the proxy closes every
   * connection and refuses new ones), a stall (connections stay open, nothing passes), latency,
   * and a bandwidth limit. Each lasts a few seconds; the network is whole again afterwards.
   */
  async function networkFaults(label: string, random: SeededRandom): Promise<void> {
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const cutMs = Math.floor(random.between(3_000, 8_000));
    const stallMs = Math.floor(random.between(2_000, 6_000));
    const latencyMs = Math.floor(random.between(100, 400));
    const rateKBs = Math.floor(random.between(20, 100));
    console.log(`${label}: cut ${cutMs} ms, stall ${stallMs} ms, latency ${latencyMs} ms for 6 s, bandwidth ${rateKBs} KB/s for 6 s`);
    await toxiproxy.setEnabled(PROXY, false);
    await pause(cutMs);
    await toxiproxy.setEnabled(PROXY, true);
    await toxiproxy.addToxic(PROXY, 'stall', { type: 'timeout', attributes: { timeout: 0 } });
    await pause(stallMs);
    await toxiproxy.removeToxic(PROXY, 'stall');
    await toxiproxy.addToxic(PROXY, 'latency', { type: 'latency', attributes: { latency: latencyMs, jitter: Math.floor(latencyMs / 4) } });
    await pause(6_000);
    await toxiproxy.removeToxic(PROXY, 'latency');
    await toxiproxy.addToxic(PROXY, 'bandwidth', { type: 'bandwidth', attributes: { rate: rateKBs } });
    await pause(6_000);
    await toxiproxy.removeToxic(PROXY, 'bandwidth');
  }

  it('engine: state after network faults mid-ingest of 100k events equals the in-memory oracle', async () => {
    const { seed, random } = chaosSeed('network-cut/engine');
    const topics = uniqueTopics('chaos-net-engine');
    await createTestTopics(topics, 6);
    const dir = await temporaryDir('chaos-net-engine');
    cleanups.push(dir.remove);
    const env: Record<string, string> = { ...topicEnv(topics), ...engineEnv(topics, dir.path), ...throughProxy };
    const now = Date.now();
    const input = engagementEvents(EVENTS, 20_000, seed, random, now);
    const oracle = new EngineOracle(compileEngineConfig({ ...process.env, ...env }), 6);
    for (const event of input) await oracle.applyEngagement(event, now);
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: input, key: (event) => event.recipientId });

    const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env, adminPort: 50_211, logPath: `${dir.path}.log` });
    cleanups.push(() => engine.stop());
    engine.start();
    await engine.waitReady(120_000);
    const faultAt = Math.floor(random.between(0.1, 0.4) * EVENTS);
    const consumed = () => engine.metric('sto_stream_records_total', { topic: topics.engagement });
    await waitFor(async () => (await consumed()) >= faultAt, 180_000, `engine consumed ${faultAt} events (seed ${seed})`, 20);
    const atFault = await consumed();
    await networkFaults('network-cut/engine', random);
    expect(atFault, `the faults came after the ingest ended (seed ${seed})`).toBeLessThan(EVENTS);

    await waitFor(() => committedEverything(kafka, env.STO_ENGINE_GROUP_ID!, topics.engagement).catch(() => false), 300_000, `engine committed all ${EVENTS} events after the faults (seed ${seed}; log ${dir.path}.log)`, 1_000);
    expect(engine.running, `the engine process exited during the faults (seed ${seed}; log ${dir.path}.log)`).toBe(true);
    await engine.stop();
    const actual = await dumpEngineState(dir.path);
    const expected = await oracleDump(oracle);
    expect(dumpDifferences(actual, expected), `engine state differs from the oracle (seed ${seed})`).toEqual([]);
    expect(actual.length).toBe(expected.length);
  }, 600_000);

  it('delay: a same-instant burst released through network faults: each send once in effect, none early', async () => {
    const { seed, random } = chaosSeed('network-cut/delay');
    const topics = uniqueTopics('chaos-net-delay');
    await createTestTopics(topics, 4);
    const dir = await temporaryDir('chaos-net-delay');
    cleanups.push(dir.remove);
    const delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), ...throughProxy, STO_STATE_DIR: dir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', STO_DELAY_RELEASE_BATCH: '200' },
      adminPort: 50_212,
      logPath: `${dir.path}.log`,
    });
    cleanups.push(() => delay.stop());
    delay.start();
    await delay.waitReady(120_000);
    const sends = burstSends(BURST, seed, Date.now() + 30_000);
    await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: sends, key: (send) => send.recipientId });
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === BURST, 60_000, `delay service holds all ${BURST} sends before they are due`);

    const faultAt = Math.floor(random.between(0.05, 0.5) * BURST);
    await waitFor(async () => (await delay.metric('sto_delay_releases_total')) >= faultAt, 120_000, `delay released ${faultAt} sends (seed ${seed})`, 10);
    const atFault = await delay.metric('sto_delay_releases_total');
    await networkFaults('network-cut/delay', random);
    expect(atFault, `the faults came after the burst was released (seed ${seed})`).toBeLessThan(BURST);

    const released = await readReleases({ kafka, codec, topic: topics.ready, expected: BURST, timeoutMs: 240_000 });
    const { problems, duplicates } = releaseProblems(sends, released);
    console.log(`network-cut/delay: ${released.length} records, ${duplicates} duplicates (seed ${seed})`);
    expect(problems, `release checks failed (seed ${seed}; log ${dir.path}.log)`).toEqual([]);
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === 0, 60_000, 'pending gauge back to 0');
    expect(delay.running, `the delay process exited during the faults (seed ${seed})`).toBe(true);
  }, 600_000);
});
