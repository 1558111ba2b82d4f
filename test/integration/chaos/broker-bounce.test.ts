import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import type { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { ChaosStack } from '../support/chaos-stack.ts';
import { delayBurstThroughFault, engineIngestThroughFault, type ChaosContext } from '../support/chaos-scenarios.ts';
import { stackConfig } from '../support/stack.ts';

// A stack of this file's own (ports 31100-31199, below the kernel's ephemeral range 32768-60999,
// so no client connection of another job can hold one): its broker is killed with SIGKILL mid-run.
const stack = new ChaosStack('chaos-bounce', { kafka: 31192, controller: 31193, registry: 31181, registryManagement: 31190 });
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

  const context = (): ChaosContext => ({ kafka, codec, cleanups });
  const brokerBounce = (label: string, faultAfter: [number, number]) => ({
    label,
    faultAfter,
    async fault(random: SeededRandom) {
      const downMs = Math.floor(random.between(2_000, 8_000));
      console.log(`${label}: SIGKILL, down ${downMs} ms`);
      await bounce(downMs);
    },
  });

  it('engine: state after a broker SIGKILL mid-ingest of 100k events equals the in-memory oracle', async () => {
    await engineIngestThroughFault(context(), brokerBounce('broker-bounce/engine', [0.15, 0.6]), EVENTS);
  }, 600_000);

  it('delay: a same-instant burst released through a broker SIGKILL: each send once in effect, none early', async () => {
    await delayBurstThroughFault(context(), brokerBounce('broker-bounce/delay', [0.05, 0.5]), BURST);
  }, 600_000);
});
