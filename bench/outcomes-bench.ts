/**
 * The outcomes stage's throughput beside the engine's ingest, in one run on a one-partition topic
 * set: N sends' decisions (scheduled), releases (ready) and what their senders reported (DELIVERY
 * for each, opens, clicks and conversions for some) are produced once;
 *
 * 1. the engine ingests the engagement records (the reference: the pipeline's own ingest rate);
 * 2. the outcomes stage consumes every record of the three topics, with a window that closes
 *    nothing meanwhile (records per second, all topics);
 * 3. the same stage restarted on its stores with its clock running a million times faster: every
 *    window is due at once, and it closes sends (one outcome and the aggregate update each).
 */
import { ChildService } from '../services/demo/child-service.ts';
import { SeededRandom } from '../services/simulator/seeded-random.ts';
import type { EngagementEvent, ReadySend, ScheduledSend } from '../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../services/shared/contracts/schema-codec.ts';
import { valueSubject, type ContractName } from '../services/shared/contracts/schema-files.ts';
import { createKafka } from '../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../services/shared/logger.ts';
import { sampleScheduled } from '../test/support/sample-records.ts';
import { freePort } from '../test/integration/support/free-port.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../test/integration/support/stack.ts';
import type { BenchSize } from './delay-bench.ts';
import type { BenchSection } from './report.ts';

const SIZES: Record<BenchSize, number> = { full: 200_000, quick: 50_000, smoke: 3_000 };

/** Polls a counter until it reaches `target`; rate from the first poll that saw progress. */
async function timeCounter(read: () => Promise<number>, target: number, timeoutMs: number): Promise<{ rate: number; seconds: number }> {
  const deadline = Date.now() + timeoutMs;
  let startValue = -1;
  let startAt = 0;
  // When one poll sees the counter go from 0 to done, the span is from the last poll that saw 0
  // (a lower bound on the rate, the best a 100 ms poll can tell).
  let lastZeroAt = performance.now();
  for (;;) {
    const value = await read();
    const at = performance.now();
    if (value === 0) lastZeroAt = at;
    if (startValue < 0 && value > 0) {
      [startValue, startAt] = value >= target ? [0, lastZeroAt] : [value, at];
    }
    if (value >= target) {
      const seconds = (at - startAt) / 1000;
      return { rate: (value - startValue) / Math.max(seconds, 0.001), seconds };
    }
    if (Date.now() > deadline) throw new Error(`counter reached ${value} of ${target} in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function records(count: number, now: number): { scheduled: ScheduledSend[]; ready: ReadySend[]; engagement: EngagementEvent[] } {
  const random = new SeededRandom(['bench-outcomes']);
  const scheduled: ScheduledSend[] = [];
  const ready: ReadySend[] = [];
  const engagement: EngagementEvent[] = [];
  for (let i = 0; i < count; i++) {
    const control = random.chance(0.1);
    const send: ScheduledSend = { ...sampleScheduled(i, `rcpt-${i}`), action: 'SCHEDULE', scheduleId: `s-${i}`, campaignId: `bench-${i % 5}`, channel: 'EMAIL', sendAt: now, triggeredAt: now - 3_600_000, arm: control ? 'CONTROL' : 'TREATMENT', reason: control ? 'CONTROL' : 'OPTIMIZED', propensity: control ? 1 : 0.95 };
    scheduled.push(send);
    ready.push({ scheduleId: send.scheduleId, triggerId: send.triggerId, recipientId: send.recipientId, campaignId: send.campaignId, messageId: send.messageId, channel: 'EMAIL', reason: send.reason, sendAt: now, releasedAt: now, timeZone: send.timeZone, payload: Buffer.alloc(0) });
    const base = { recipientId: send.recipientId, channel: 'EMAIL' as const, timeZone: null, campaignId: send.campaignId, messageId: null, machineOpen: null, userAgent: null, deliveredAt: null, scheduleId: send.scheduleId, correlationId: null, value: null, currency: null, bounceKind: null, attributes: {} };
    engagement.push({ ...base, eventId: `${send.scheduleId}:d`, eventType: 'DELIVERY', occurredAt: now + 1_000 });
    if (!random.chance(0.3)) continue;
    engagement.push({ ...base, eventId: `${send.scheduleId}:o`, eventType: 'OPEN', occurredAt: now + 60_000, userAgent: 'Mozilla/5.0' });
    if (!random.chance(0.4)) continue;
    engagement.push({ ...base, eventId: `${send.scheduleId}:c`, eventType: 'CLICK', occurredAt: now + 90_000 });
    if (random.chance(0.3)) engagement.push({ ...base, eventId: `${send.scheduleId}:v`, eventType: 'CONVERSION', occurredAt: now + 600_000, value: 25, currency: 'EUR' });
  }
  return { scheduled, ready, engagement };
}

export async function runOutcomesBenchmark(options: { size: BenchSize }): Promise<BenchSection> {
  const sends = SIZES[options.size];
  const log = (message: string) => process.stderr.write(`bench outcomes: ${message}\n`);
  const common = stackConfig();
  const kafka = createKafka(common.kafka, createLogger('bench-outcomes', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const topics = uniqueTopics('bench-outcomes');
  await createTestTopics(topics, 1);
  const engineDir = await temporaryDir('bench-outcomes-engine');
  const outcomesDir = await temporaryDir('bench-outcomes-stage');
  const baseEnv = { ...topicEnv(topics), STO_LOG_LEVEL: 'warn' };
  const engine = new ChildService({ name: 'engine', entry: ChildService.entry('engine'), env: { ...baseEnv, STO_STATE_DIR: engineDir.path, STO_ENGINE_GROUP_ID: `${topics.engagement}.engine` }, adminPort: await freePort(), logPath: `${engineDir.path}.log` });
  const outcomesEnv = { ...baseEnv, STO_STATE_DIR: outcomesDir.path, STO_OUTCOMES_GROUP_ID: `${topics.engagement}.outcomes`, STO_INSTANCE_ID: 'bench-outcomes', STO_KAFKA_SESSION_TIMEOUT_MS: '6000', STO_OUTCOMES_CONVERSION_WINDOW_HOURS: '1', STO_OUTCOMES_LATE_GRACE_MINUTES: '0' };
  const stage = new ChildService({ name: 'outcomes', entry: ChildService.entry('outcomes'), env: outcomesEnv, adminPort: await freePort(), logPath: `${outcomesDir.path}.log` });
  const fastStage = new ChildService({ name: 'outcomes-fast', entry: ChildService.entry('outcomes'), env: { ...outcomesEnv, STO_OUTCOMES_CLOCK_SPEEDUP: '1000000' }, adminPort: await freePort(), logPath: `${outcomesDir.path}.fast.log` });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  try {
    const data = records(sends, Date.now());
    const total = data.scheduled.length + data.ready.length + data.engagement.length;
    log(`producing ${sends.toLocaleString('en-US')} sends: ${total.toLocaleString('en-US')} records`);
    await producer.connect();
    const produce = async <T extends { recipientId: string }>(contract: ContractName, topic: string, values: T[]) => {
      const writer = await codec.writer(contract, valueSubject(topic));
      for (let at = 0; at < values.length; at += 1_000) await producer.send({ topic, messages: values.slice(at, at + 1_000).map((value) => ({ key: value.recipientId, value: codec.encode(writer, value) })) });
    };
    await produce('scheduled', topics.scheduled, data.scheduled);
    await produce('ready', topics.ready, data.ready);
    await produce('engagement', topics.engagement, data.engagement);

    log('engine ingest (reference)');
    engine.start();
    await engine.waitReady(120_000);
    const engineIngest = await timeCounter(() => engine.metric('sto_stream_records_total', { topic: topics.engagement }), data.engagement.length, 30 * 60_000);
    await engine.stop();

    log('outcomes stage ingest');
    stage.start();
    await stage.waitReady(120_000);
    const ingest = await timeCounter(() => stage.metric('sto_stream_records_total'), total, 30 * 60_000);
    await stage.stop();

    log('outcomes stage closing every window at once');
    fastStage.start();
    await fastStage.waitReady(120_000);
    const closing = await timeCounter(() => fastStage.metric('sto_outcomes_closed_total'), sends, 30 * 60_000);
    await fastStage.stop();
    return {
      title: 'Outcomes stage: ingest and window closes beside the engine ingest',
      method: `${sends.toLocaleString('en-US')} sends on one partition: ${total.toLocaleString('en-US')} records (scheduled, ready, and ${data.engagement.length.toLocaleString('en-US')} engagement events: a DELIVERY each, opens, clicks, conversions), produced once; the engine ingests the engagement events, then the outcomes stage consumes all three topics (${ingest.seconds.toFixed(1)} s), then the stage restarted on its stores with a clock a million times faster closes every send (${closing.seconds.toFixed(1)} s), one after the other on the same machine.`,
      figures: [
        { name: 'outcomes stage ingest (all three topics)', value: ingest.rate, unit: 'records/s', reference: { name: 'engine ingest of the engagement events', value: engineIngest.rate, unit: 'events/s' } },
        { name: 'outcomes stage window closes (outcome + aggregate)', value: closing.rate, unit: 'sends/s', reference: { name: 'engine ingest of the engagement events', value: engineIngest.rate, unit: 'events/s' } },
      ],
    };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await Promise.all([engine.stop(), stage.stop(), fastStage.stop()]);
    await Promise.all([engineDir.remove(), outcomesDir.remove()]);
  }
}
