import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQuiet } from '../../../services/model/quiet-hours.ts';
import { ChildService } from '../../../services/demo/child-service.ts';
import type { ReadySend, ScheduledSend, UnreleasedSend } from '../../../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { plainScheduledSend } from '../../support/sample-records.ts';
import { produceRecords } from '../support/engine-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const MINUTE = 60_000;
const SPEEDUP = 30;


const send = (id: string, sendAt: number, extra: Partial<ScheduledSend>): ScheduledSend => ({
  ...plainScheduledSend({ scheduleId: id, triggerId: `t-${id}`, recipientId: `r-${id}`, campaignId: 'late' }, sendAt, id),
  ...extra,
});

describe('a late release on the real broker (the delay service was behind): quiet hours and expiry are checked again', () => {
  const topics = uniqueTopics('late');
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('late-release-test', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  let stateDir: { path: string; remove: () => Promise<void> };
  let delay: ChildService;
  const ready = new Map<string, { value: ReadySend; timestamp: number }>();
  const unreleased = new Map<string, UnreleasedSend>();
  const consumer = kafka.consumer({ groupId: `${topics.ready}.reader` });

  beforeAll(async () => {
    await createTestTopics(topics, 2);
    stateDir = await temporaryDir('late');
    // Its clock runs 30 times faster, so quiet hours that end minutes later (on its clock) end in seconds.
    delay = new ChildService({
      name: 'delay',
      entry: ChildService.entry('delay'),
      env: { ...topicEnv(topics), STO_STATE_DIR: stateDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_LOG_LEVEL: 'warn', STO_DELAY_CLOCK_SPEEDUP: String(SPEEDUP) },
      adminPort: await freePort(),
      logPath: `${stateDir.path}.log`,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.ready, topics.unreleased], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.ready) {
          const value = await codec.decode<ReadySend>('ready', message.value);
          ready.set(value.scheduleId, { value, timestamp: Number(message.timestamp) });
        } else {
          const value = await codec.decode<UnreleasedSend>('unreleased', message.value);
          unreleased.set(value.scheduleId, value);
        }
      },
    });
  });

  afterAll(async () => {
    await consumer.disconnect();
    await delay?.stop();
    await stateDir?.remove();
  });

  it('holds a send that comes due inside quiet hours until they end, records an expired one without sending it, sends the rest', async () => {
    delay.start();
    await delay.waitReady(90_000);
    // Read the service's clock: a probe due long ago is released at once, stamped with it.
    await produceRecords({ kafka, codec, topic: topics.scheduled, contract: 'scheduled', records: [send('probe', 0, {})], key: (record) => record.recipientId });
    await waitFor(() => ready.has('probe'), 60_000, () => 'the probe release');
    const clockAt = ready.get('probe')!.value.releasedAt;
    // Quiet hours (UTC) from 10 minutes before the probe's release to 10 minutes after it, on the service's clock (20 s of real time).
    const minuteOfDay = Math.floor((clockAt % 86_400_000) / MINUTE);
    const quietHours = { startMinute: (minuteOfDay + 1_430) % 1_440, endMinute: (minuteOfDay + 10) % 1_440 };
    const quietEnd = Math.floor(clockAt / MINUTE) * MINUTE + 10 * MINUTE;
    const hourAgo = clockAt - 60 * MINUTE;
    await produceRecords({
      kafka,
      codec,
      topic: topics.scheduled,
      contract: 'scheduled',
      records: [
        send('in-quiet-hours', hourAgo, { quietHours, expiresAt: clockAt + 120 * MINUTE }),
        send('expired', hourAgo, { quietHours: null, expiresAt: clockAt - MINUTE }),
        send('plain', hourAgo, { quietHours: null, expiresAt: null }),
      ],
      key: (record) => record.recipientId,
    });

    await waitFor(() => ready.has('plain') && unreleased.has('expired'), 60_000, () => `the plain release and the expiry record (have ${[...ready.keys()]} and ${[...unreleased.keys()]})`);
    expect(await delay.metric('sto_delay_deferred_total')).toBe(1);
    expect(ready.has('in-quiet-hours'), 'released inside quiet hours').toBe(false);
    expect(unreleased.get('expired')).toMatchObject({ outcome: 'EXPIRED', recipientId: 'r-expired', expiresAt: clockAt - MINUTE });
    expect(unreleased.get('expired')!.detail).toMatch(/past expiresAt/);

    await waitFor(() => ready.has('in-quiet-hours'), 60_000, () => 'the release once quiet hours end');
    const held = ready.get('in-quiet-hours')!.value;
    expect(held.releasedAt).toBeGreaterThanOrEqual(quietEnd);
    expect(isQuiet(held.releasedAt, 'UTC', quietHours)).toBe(false);
    expect(ready.has('expired'), 'an expired send was released').toBe(false);
    expect(await delay.metric('sto_delay_expired_total')).toBe(1);
    // The gauge follows the store's commit, which comes after the release is produced: wait for it.
    await waitFor(async () => (await delay.metric('sto_delay_pending')) === 0, 30_000, 'sto_delay_pending back to 0 after the last release commits');
  });
});
