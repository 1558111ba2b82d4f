import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import type { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { ChaosStack } from '../support/chaos-stack.ts';
import { delayBurstThroughFault, engineIngestThroughFault, type ChaosContext } from '../support/chaos-scenarios.ts';
import { stackConfig, temporaryDir } from '../support/stack.ts';
import { Toxiproxy } from '../support/toxiproxy.ts';

// A stack of this file's own (ports 31200-31299, below the kernel's ephemeral range). The services reach the broker only through
// Toxiproxy: the broker's second listener (PROXIED, port 31294) advertises the proxy's address
// (31295), so every connection a service opens, bootstrap or partition leader, goes through it.
// The test harness (topics, input, reading the output) uses the direct listener.
const stack = new ChaosStack('chaos-network', { kafka: 31292, controller: 31293, registry: 31281, registryManagement: 31290 });
const PROXIED_LISTENER = 31294;
const PROXY_PORT = 31295;
const PROXY = 'kafka';
Object.assign(process.env, stack.settings);

const EVENTS = 100_000;
const BURST = 20_000;

describe('chaos: the network between the services and the broker is cut, slowed and throttled', () => {
  const toxiproxy = new Toxiproxy(31274);
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

  const context = (): ChaosContext => ({ kafka, codec, cleanups });
  const faults = (label: string, faultAfter: [number, number]) => ({ label, env: throughProxy, faultAfter, fault: (random: SeededRandom) => networkFaults(label, random) });

  it('engine: state after network faults mid-ingest of 100k events equals the in-memory oracle', async () => {
    await engineIngestThroughFault(context(), faults('network-cut/engine', [0.1, 0.4]), EVENTS);
  }, 600_000);

  it('delay: a same-instant burst released through network faults: each send once in effect, none early', async () => {
    await delayBurstThroughFault(context(), faults('network-cut/delay', [0.05, 0.5]), BURST);
  }, 600_000);
});
