import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildService } from '../../../services/demo/child-service.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { burstSends, readReleases, releaseProblems } from '../support/chaos-fixture.ts';
import { waitFor } from '../support/chaos-stack.ts';
import { produceRecords } from '../support/engine-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';

const SENDS = 10_000;

describe('delay service crash during a burst release', () => {
  const topics = uniqueTopics('delay');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('delay-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;

  beforeAll(async () => {
    await createTestTopics(topics, 4);
    stateDir = await temporaryDir('delay');
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: stateDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', STO_DELAY_RELEASE_BATCH: '200' },
      adminPort: await freePort(),
      logPath: `${stateDir.path}.log`,
    });
  });

  afterAll(async () => {
    await delay?.stop();
    await stateDir?.remove();
  });

  it('releases every send once in effect after a SIGKILL during a same-instant burst, none early', async () => {
    delay.start();
    await delay.waitReady(60_000);
    // A true burst: every send is due at the same instant, and all are held before it comes.
    const dueAt = Date.now() + 20_000;
    const sends = burstSends(SENDS, topics.scheduled, dueAt);
    await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: sends, key: (send) => send.recipientId });
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === SENDS, 20_000, `the delay service holds all ${SENDS} sends`);
    expect(Date.now(), 'the burst was not held before its instant: the test machine is too slow for this test').toBeLessThan(dueAt);

    // Kill while a release pass runs: releases have begun and not finished (passes follow each
    // other back to back while full batches remain), observed on the metric just before the kill.
    await waitFor(async () => (await delay.metric('sto_delay_releases_total')) >= 500, 40_000, 'the burst release started (500 released)', 10);
    const releasedBeforeKill = await delay.metric('sto_delay_releases_total');
    const killedAt = Date.now();
    await delay.kill();
    expect(releasedBeforeKill, 'the kill came after the whole burst was released').toBeLessThan(SENDS);
    delay.start();
    await delay.waitReady(60_000);

    const released = await readReleases({ kafka, codec, topic: topics.ready, expected: SENDS, timeoutMs: 60_000 });
    const { problems, duplicates } = releaseProblems(sends, released);
    expect(problems, `release checks failed (${released.length} records, ${duplicates} duplicates; log ${stateDir.path}.log)`).toEqual([]);
    // The kill split the burst: one part released by the killed process, the rest after the restart.
    expect(released.some((record) => record.ready.releasedAt < killedAt), 'nothing was released before the kill').toBe(true);
    expect(released.some((record) => record.ready.releasedAt > killedAt), 'nothing was released after the restart').toBe(true);
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === 0, 20_000, 'pending gauge back to 0');
  }, 300_000);
});
