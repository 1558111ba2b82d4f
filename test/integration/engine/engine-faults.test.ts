import { afterAll, describe, expect, it } from 'vitest';
import { compileEngineConfig } from '../../../services/engine/config.ts';
import { dumpEngineState, dumpStore, type DumpLine } from '../../../services/engine/state-dump.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import { stableUnitInterval } from '../../../services/model/hash.ts';
import type { EngagementEvent } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { chaosSeed, committedEverything } from '../support/chaos-fixture.ts';
import { EngineOracle, engineEnv, produceRecords } from '../support/engine-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const PARTITIONS = 6;
const ZONES = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Sao_Paulo', 'UTC'];
const TYPES: EngagementEvent['eventType'][] = ['SEND', 'OPEN', 'OPEN', 'CLICK', 'SESSION', 'DELIVERY'];

function events(count: number, recipients: number, seed: string, now: number): EngagementEvent[] {
  return Array.from({ length: count }, (_, i): EngagementEvent => {
    const r = Math.floor(stableUnitInterval([`${seed}:r:${i}`]) * recipients);
    const type = TYPES[i % TYPES.length]!;
    return {
      eventId: `${seed}-${i}`,
      recipientId: `rcpt-${r}`,
      channel: r % 5 === 0 ? 'PUSH' : 'EMAIL',
      eventType: type,
      occurredAt: now - Math.floor(stableUnitInterval([`${seed}:t:${i}`]) * 60 * 86_400_000),
      timeZone: i % 3 === 0 ? ZONES[r % ZONES.length]! : null,
      campaignId: null,
      messageId: null,
      machineOpen: type === 'OPEN' && i % 11 === 0 ? true : null,
      userAgent: null,
      deliveredAt: null,
      attributes: {},
    };
  });
}

async function oracleDump(oracle: EngineOracle): Promise<DumpLine[]> {
  const lines: DumpLine[] = [];
  for (const store of await oracle.stores()) lines.push(...(await dumpStore(store)));
  return lines.sort((a, b) => a.key.localeCompare(b.key));
}

describe('engine state under faults equals a fault-free replay', () => {
  const common = stackConfig();
  const logger = createLogger('engine-faults', 'error');
  const kafka = createKafka(common.kafka, logger);
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const cleanups: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });



  it('crash: SIGKILL at random moments while consuming 200k events loses and double-counts nothing', async () => {
    const topics = uniqueTopics('crash');
    await createTestTopics(topics, PARTITIONS);
    const dir = await temporaryDir('engine-crash');
    cleanups.push(dir.remove);
    const env = { ...topicEnv(topics), ...engineEnv(topics, dir.path) };
    const now = Date.now();
    const input = events(200_000, 20_000, 'crash', now);
    const oracle = new EngineOracle(compileEngineConfig({ ...process.env, ...env }), PARTITIONS);
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: input, key: (event) => event.recipientId });
    for (const event of input) await oracle.applyEngagement(event, now);

    const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env, adminPort: await freePort(), logPath: `${dir.path}.log` });
    cleanups.push(() => engine.stop());
    // The kill moments come from a logged seed (STO_CHAOS_SEED replays them).
    const { random } = chaosSeed('engine-faults/crash');
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      engine.start();
      await engine.waitReady(90_000);
      if (round === 3) break;
      // Let it consume for a random while, then kill it mid-stream.
      const target = 2_000 + Math.floor(random.next() * 20_000);
      const deadline = Date.now() + 60_000;
      while ((await engine.metric('sto_stream_records_total', { topic: topics.engagement })) < target && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50 + random.next() * 100));
      }
      await engine.kill();
      kills++;
    }
    await waitFor(() => committedEverything(kafka, env.STO_ENGINE_GROUP_ID!, topics.engagement), 240_000, 'engine consumed everything');
    await engine.stop();
    expect(kills).toBe(3);
    const actual = await dumpEngineState(dir.path);
    const expected = await oracleDump(oracle);
    expect(actual.length).toBe(expected.length);
    expect(actual).toEqual(expected);
  }, 600_000);

  it('rebalance: one instance, a second and third join mid-stream, one stops; state equals the replay', async () => {
    const topics = uniqueTopics('rebalance');
    await createTestTopics(topics, PARTITIONS);
    const now = Date.now();
    const waves = [0, 1, 2, 3].map((wave) => events(15_000, 5_000, `wave${wave}`, now));
    const instances = await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const dir = await temporaryDir(`engine-${name}`);
        cleanups.push(dir.remove);
        const env: Record<string, string> = { ...topicEnv(topics), ...engineEnv(topics, dir.path), STO_INSTANCE_ID: name };
        const service = new ChildService({ name: `engine-${name}`, entry: ChildService.entry('engine'), env, adminPort: await freePort(), logPath: `${dir.path}.log` });
        cleanups.push(() => service.stop());
        return { name, dir: dir.path, env, service };
      }),
    );
    const [a, b, c] = instances as [(typeof instances)[0], (typeof instances)[0], (typeof instances)[0]];
    const oracle = new EngineOracle(compileEngineConfig({ ...process.env, ...a.env }), PARTITIONS);
    const send = async (wave: EngagementEvent[]) => {
      await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: wave, key: (event) => event.recipientId });
      for (const event of wave) await oracle.applyEngagement(event, now);
    };
    a.service.start();
    await a.service.waitReady(90_000);
    await send(waves[0]!);
    b.service.start();
    await send(waves[1]!);
    c.service.start();
    await send(waves[2]!);
    await Promise.all([b.service.waitReady(120_000), c.service.waitReady(120_000)]);
    await b.service.stop();
    await send(waves[3]!);
    await waitFor(() => committedEverything(kafka, a.env.STO_ENGINE_GROUP_ID!, topics.engagement), 240_000, 'group consumed everything');
    await waitFor(async () => (await a.service.ready()) && (await c.service.ready()), 60_000, 'survivors ready');

    const owned = async (service: ChildService) => {
      const response = await fetch(`http://127.0.0.1:${service.adminPort}/readyz`);
      return ((await response.json()) as { owned: number[] }).owned;
    };
    // Ready members may still be finishing a rebalance: wait until ownership has settled.
    let ownedByA: number[] = [];
    let ownedByC: number[] = [];
    const settled = async () => {
      ownedByA = await owned(a.service);
      ownedByC = await owned(c.service);
      return [...ownedByA, ...ownedByC].sort().join(',') === '0,1,2,3,4,5';
    };
    await waitFor(settled, 60_000, 'partition ownership settles').catch(() => undefined);
    expect([...ownedByA, ...ownedByC].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    // Partitions moved: each survivor owns some, and c (which joined after a had processed
    // events) restored its share from the changelog.
    expect(ownedByA.length, 'a kept no partition').toBeGreaterThan(0);
    expect(ownedByC.length, 'c got no partition').toBeGreaterThan(0);
    expect(await c.service.metric('sto_state_restored_records_total'), 'c restored nothing from the changelog').toBeGreaterThan(0);
    await a.service.stop();
    await c.service.stop();
    const actual = [...(await dumpEngineState(a.dir, ownedByA)), ...(await dumpEngineState(c.dir, ownedByC))].sort((x, y) => x.key.localeCompare(y.key));
    expect(actual).toEqual(await oracleDump(oracle));
  }, 600_000);
});
