/**
 * Benchmarks of the delay service, each on the real broker with the service run as a child
 * process: release lateness at a steady rate (beside a polling scheduler on the same schedule),
 * a burst of sends due at one instant, and memory and disk with millions of pending sends.
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/delay-bench.ts [--quick | --smoke]
 *
 * needs STO_KAFKA_BROKERS and STO_SCHEMA_REGISTRY_URL of a running stack (infra/stack.sh start).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { SeededRandom } from '../services/simulator/seeded-random.ts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Kafka, Message, Producer } from 'kafkajs';
import { ConfigResourceTypes } from '../services/shared/kafka/kafkajs.ts';
import { ChildService } from '../services/demo/child-service.ts';
import type { TopicsConfig } from '../services/shared/config/common-config.ts';
import type { EngagementEvent, ReadySend, ScheduledSend } from '../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec, type Writer } from '../services/shared/contracts/schema-codec.ts';
import { valueSubject } from '../services/shared/contracts/schema-files.ts';
import { createKafka } from '../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../services/shared/logger.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../test/integration/support/stack.ts';
import { PollingScheduler } from './delay-poller.ts';
import { benchScheduledSend, ScheduledSendTemplates } from './delay-records.ts';
import { formatSection, percentile, type BenchFigure, type BenchSection } from './report.ts';
import { freePort } from './free-port.ts';

/** The bootstrap step's default partition count. */
const PARTITIONS = 6;
/** Admin ports of the child services (19500–19599 are the benchmarks'). */
const ADMIN_PORTS = { steady: 19_501, burst: 19_502, pending: 19_503, guards: 19_504 } as const; // the run labels (ports: free ones)
const POLL_INTERVAL_MS = 1_000;
const LATENESS_HISTOGRAM = 'sto_delay_release_lateness_seconds';
const HOUR_MS = 3_600_000;
/** Schedule ids of warm-up sends start here, apart from the measured ones. */
const WARM_UP_INDEX = 9_000_000_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Deterministic uniform numbers in [0, 1), so every run spreads its schedule the same way. */
function seededRandom(seed: number): () => number {
  const random = new SeededRandom(['delay-bench', seed]);
  return () => random.next();
}

interface DelayRun {
  topics: TopicsConfig;
  stateDir: string;
  service: ChildService;
  kafka: Kafka;
  codec: SchemaCodec;
  finish(): Promise<void>;
}

/** Fresh topics, a fresh state directory and a delay service child on them, ready. */
async function startDelayRun(label: keyof typeof ADMIN_PORTS, options: { changelogMaxMessageBytes?: number } = {}): Promise<DelayRun> {
  const topics = uniqueTopics(`bench-${label}`);
  const common = { ...stackConfig(), topics };
  const kafka = createKafka(common.kafka, createLogger('delay-bench', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  // A broker that has just deleted the previous run's topics sometimes answers a metadata request
  // for the new ones with UNKNOWN_TOPIC_OR_PARTITION; creating topics is idempotent, so try again.
  for (let attempt = 1; ; attempt++) {
    try {
      // Once, on a broker busy deleting the previous run's gigabytes, this never settled: bound each attempt.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        createTestTopics(topics, PARTITIONS),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer within 60 s')), 60_000);
        }),
      ]).finally(() => clearTimeout(timer));
      break;
    } catch (error) {
      console.error(`creating bench topics failed (attempt ${attempt}): ${String(error)}`);
      if (attempt >= 3) throw error;
      await sleep(2_000);
    }
  }
  if (options.changelogMaxMessageBytes) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topics.delayChangelog, configEntries: [{ name: 'max.message.bytes', value: String(options.changelogMaxMessageBytes) }] }],
      });
    } finally {
      await admin.disconnect();
    }
  }
  const stateDir = await temporaryDir(`bench-delay-${label}`);
  const logPath = `${stateDir.path}.log`;
  const service = new ChildService({
    name: `delay-${label}`,
    entry: ChildService.entry('delay'),
    env: { ...topicEnv(topics), STO_STATE_DIR: stateDir.path, STO_DELAY_GROUP_ID: `${topics.scheduled}.delay`, STO_INSTANCE_ID: `bench-${label}`, STO_LOG_LEVEL: 'warn' },
    adminPort: await freePort(),
    logPath,
  });
  service.start();
  try {
    await service.waitReady(120_000);
  } catch (error) {
    await service.kill();
    throw error;
  }
  return {
    topics,
    stateDir: stateDir.path,
    service,
    kafka,
    codec,
    async finish() {
      await service.stop();
      const admin = kafka.admin();
      await admin.connect();
      try {
        // The pending-sends run leaves gigabytes on the broker: give them back.
        const names = new Set(Object.values(topics));
        const existing = (await admin.listTopics()).filter((name) => names.has(name) || [...names].some((topic) => name === `${topic}.dlq`));
        await admin.deleteTopics({ topics: existing, timeout: 60_000 }).catch(() => undefined);
      } finally {
        await admin.disconnect();
      }
      await stateDir.remove();
    },
  };
}

interface ReadyObservation {
  sendAt: number;
  /** The service's clock when it took the send out of its store. */
  releasedAt: number;
  /** The ready record's timestamp: set by the service's producer when it built the batch. */
  publishedAt: number;
  /** When this process's consumer received it. */
  seenAt: number;
}

/** Reads the ready topic from the start; keeps the first observation of each schedule id. */
class ReadyReader {
  readonly seen = new Map<string, ReadyObservation>();
  duplicates = 0;
  readonly #run: DelayRun;
  readonly #consumer;

  constructor(run: DelayRun) {
    this.#run = run;
    this.#consumer = run.kafka.consumer({ groupId: `${run.topics.ready}.bench-reader`, maxWaitTimeInMs: 50 });
  }

  async start(): Promise<void> {
    const joined = new Promise<void>((resolve) => this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => resolve()));
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic: this.#run.topics.ready, fromBeginning: true });
    await this.#consumer.run({
      eachBatch: async ({ batch }) => {
        const seenAt = Date.now();
        for (const message of batch.messages) {
          const ready = await this.#run.codec.decode<ReadySend>('ready', message.value);
          if (this.seen.has(ready.scheduleId)) {
            this.duplicates++;
            continue;
          }
          this.seen.set(ready.scheduleId, { sendAt: ready.sendAt, releasedAt: ready.releasedAt, publishedAt: Number(message.timestamp), seenAt });
        }
      },
    });
    await joined;
  }

  reset(): void {
    this.seen.clear();
    this.duplicates = 0;
  }

  async waitFor(count: number, deadline: number): Promise<void> {
    while (this.seen.size < count && Date.now() < deadline) await sleep(100);
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect();
  }
}

/** Cumulative bucket counts of a Prometheus histogram, by upper bound. */
function histogramBuckets(metricsText: string, name: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}_bucket`)) continue;
    const match = /le="([^"]+)"[^}]*\}\s+(\S+)$/.exec(line);
    if (match) buckets.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
  }
  return buckets;
}

/** Upper bounds of the buckets holding the p50 and p99 of what a histogram observed between two readings. */
function histogramQuantileBounds(before: Map<number, number>, after: Map<number, number>): { count: number; p50: number; p99: number } {
  const buckets = [...after].map(([le, count]) => ({ le, count: count - (before.get(le) ?? 0) })).sort((a, b) => a.le - b.le);
  const count = buckets.at(-1)?.count ?? 0;
  const bound = (q: number) => buckets.find((bucket) => bucket.count >= q * count)?.le ?? Number.NaN;
  return { count, p50: bound(0.5), p99: bound(0.99) };
}

function ms(value: number): number {
  return Math.round(value * 10) / 10;
}

/**
 * A delay service run with a producer of scheduled sends and a reader of the ready topic, all
 * started before `measure` and stopped (topics deleted) after it, whatever happens.
 */
async function withReadyRun(
  label: keyof typeof ADMIN_PORTS,
  measure: (parts: { run: DelayRun; reader: ReadyReader; producer: Producer; writer: Writer }) => Promise<BenchSection>,
): Promise<BenchSection> {
  const run = await startDelayRun(label);
  const reader = new ReadyReader(run);
  const producer = run.kafka.producer({ allowAutoTopicCreation: false });
  try {
    await reader.start();
    await producer.connect();
    return await measure({ run, reader, producer, writer: await run.codec.writer('scheduled', valueSubject(run.topics.scheduled)) });
  } finally {
    await producer.disconnect().catch(() => undefined);
    await reader.stop().catch(() => undefined);
    await run.finish();
  }
}

/** `full` is what BENCHMARKS.md reports; `quick` a shorter run; `smoke` only proves that every section runs (CI). */
export type BenchSize = 'full' | 'quick' | 'smoke';
const SIZES: Record<BenchSize, { steadySeconds: number; burstSends: number; burstLeadMs: number; pendingSends: number; loadBudgetMinutes: number }> = {
  full: { steadySeconds: 30, burstSends: 10_000, burstLeadMs: 20_000, pendingSends: 5_000_000, loadBudgetMinutes: 25 },
  quick: { steadySeconds: 10, burstSends: 10_000, burstLeadMs: 15_000, pendingSends: 500_000, loadBudgetMinutes: 10 },
  smoke: { steadySeconds: 3, burstSends: 1_000, burstLeadMs: 10_000, pendingSends: 20_000, loadBudgetMinutes: 3 },
};

/** 1. Release lateness at a steady rate, beside a polling scheduler fed the same schedule. */
async function steadyLateness(size: BenchSize): Promise<BenchSection> {
  const ratePerSecond = 1_000;
  const seconds = SIZES[size].steadySeconds;
  const total = ratePerSecond * seconds;
  return withReadyRun('steady', async ({ run, reader, producer, writer }) => {
    const poller = new PollingScheduler(POLL_INTERVAL_MS);
    try {
      // Warm-up, not measured: a few sends due at once, through to the ready topic. A service that has
      // just been assigned its partitions starts fetching only after kafkajs' fetch wait (5 s), and the
      // steady state is what this figure is about.
      const warmUpAt = Date.now();
      const warmUp = Array.from({ length: 60 }, (_, i) => benchScheduledSend(WARM_UP_INDEX + i, i, warmUpAt + 200, warmUpAt));
      await producer.send({ topic: run.topics.scheduled, messages: warmUp.map((send) => ({ key: send.recipientId, value: run.codec.encode(writer, send) })) });
      await reader.waitFor(warmUp.length, Date.now() + 60_000);
      const warmUpSeconds = (Date.now() - warmUpAt) / 1_000;
      reader.reset();
      const histogramBefore = histogramBuckets(await run.service.metricsText(), LATENESS_HISTOGRAM);
      const random = seededRandom(1);
      poller.start();
      const started = Date.now();
      let produced = 0;
      let lastSendAt = 0;
      while (produced < total) {
        const owed = Math.min(total, Math.floor(((Date.now() - started) * ratePerSecond) / 1_000)) - produced;
        if (owed > 0) {
          const now = Date.now();
          const messages: Message[] = [];
          for (let i = 0; i < owed; i++) {
            const index = produced + i;
            const sendAt = now + 3_000 + Math.floor(random() * 2_000);
            lastSendAt = Math.max(lastSendAt, sendAt);
            const send = benchScheduledSend(index, index % 20_000, sendAt, now);
            messages.push({ key: send.recipientId, value: run.codec.encode(writer, send) });
            poller.schedule(sendAt);
          }
          await producer.send({ topic: run.topics.scheduled, messages });
          produced += owed;
        }
        await sleep(10);
      }
      const producedSeconds = (Date.now() - started) / 1_000;
      await reader.waitFor(total, lastSendAt + 30_000);
      while (poller.pending > 0) await sleep(100);
      poller.stop();

      const observations = [...reader.seen.values()];
      const release = observations.map((seen) => seen.releasedAt - seen.sendAt);
      const published = observations.map((seen) => seen.publishedAt - seen.sendAt);
      const endToEnd = observations.map((seen) => seen.seenAt - seen.sendAt);
      const early = observations.filter((seen) => seen.releasedAt < seen.sendAt).length;
      const reference = poller.lateness;
      const histogram = histogramQuantileBounds(histogramBefore, histogramBuckets(await run.service.metricsText(), LATENESS_HISTOGRAM));
      const pollerFigure = (p: number) => ({ name: `${POLL_INTERVAL_MS / 1_000} s poller p${p}`, value: ms(percentile(reference, p)), unit: 'ms' });
      const pollerMax = { name: `${POLL_INTERVAL_MS / 1_000} s poller max`, value: ms(Math.max(...reference)), unit: 'ms' };
      const p99Release = percentile(release, 99);
      const p99EndToEnd = percentile(endToEnd, 99);
      const figures: BenchFigure[] = [
        { name: 'sends released', value: observations.length, unit: `of ${total}`, aim: 'all', met: observations.length === total },
        { name: 'released before sendAt', value: early, unit: 'sends', aim: 'none', met: early === 0 },
        { name: 'release lateness p50 (releasedAt − sendAt)', value: ms(percentile(release, 50)), unit: 'ms', reference: pollerFigure(50) },
        { name: 'release lateness p99 (releasedAt − sendAt)', value: ms(p99Release), unit: 'ms', reference: pollerFigure(99), aim: 'p99 < 100 ms', met: p99Release < 100 },
        { name: 'release lateness max (releasedAt − sendAt)', value: ms(Math.max(...release)), unit: 'ms', reference: pollerMax },
        { name: 'published lateness p99 (ready record timestamp − sendAt)', value: ms(percentile(published, 99)), unit: 'ms' },
        { name: 'end-to-end lateness p50 (consumer receives − sendAt)', value: ms(percentile(endToEnd, 50)), unit: 'ms' },
        { name: 'end-to-end lateness p99 (consumer receives − sendAt)', value: ms(p99EndToEnd), unit: 'ms', aim: 'p99 < 100 ms', met: p99EndToEnd < 100 },
        { name: 'end-to-end lateness max (consumer receives − sendAt)', value: ms(Math.max(...endToEnd)), unit: 'ms' },
        { name: "service's own histogram p50 (bucket upper bound)", value: histogram.p50 * 1_000, unit: 'ms' },
        { name: "service's own histogram p99 (bucket upper bound)", value: histogram.p99 * 1_000, unit: 'ms' },
      ];
      return {
        title: 'Delay service: release lateness at a steady 1,000 sends/s',
        method:
          `${total.toLocaleString('en-US')} scheduled sends produced at ${Math.round(total / producedSeconds).toLocaleString('en-US')}/s for ${producedSeconds.toFixed(1)} s ` +
          `to ${PARTITIONS} partitions, each due 3–5 s after it was produced (uniform, fixed seed); one delay service child process (default settings) on the real broker. ` +
          'Release lateness is the service\'s own release instant in the ready record (releasedAt) minus sendAt; published lateness uses the ready record\'s timestamp; ' +
          'end-to-end lateness is when a consumer in the bench process received it (same host, same clock), broker round trip included. ' +
          `Reference, same run and same schedule: an in-process polling scheduler (min-heap of due instants, a ${POLL_INTERVAL_MS} ms setInterval takes out everything due), ` +
          'the design of delayed-job pollers such as Sidekiq\'s scheduled set (whose default average interval is longer, 5 s); it has no broker or store in its path, so its lateness is the polling alone. ' +
          `Before the measured phase, 60 warm-up sends went through (${warmUpSeconds.toFixed(1)} s from produce to ready); they are left out of every figure. ` +
          `The service's own histogram (sto_delay_release_lateness_seconds, ${histogram.count} observations of the measured phase) gives bucket bounds only. Duplicates seen: ${reader.duplicates}.`,
        figures,
      };
    } finally {
      poller.stop();
    }
  });
}

/** 2. A burst: many sends due at the same instant. */
async function burstRelease(size: BenchSize): Promise<BenchSection> {
  const total = SIZES[size].burstSends;
  return withReadyRun('burst', async ({ run, reader, producer, writer }) => {
    const producedAt = Date.now();
    const dueAt = producedAt + SIZES[size].burstLeadMs;
    const messages: Message[] = Array.from({ length: total }, (_, index) => {
      const send = benchScheduledSend(index, index % 2_000, dueAt, producedAt);
      return { key: send.recipientId, value: run.codec.encode(writer, send) };
    });
    for (let at = 0; at < messages.length; at += 2_000) await producer.send({ topic: run.topics.scheduled, messages: messages.slice(at, at + 2_000) });
    // The burst must be stored before it is due, or this would measure ingestion.
    while ((await run.service.metric('sto_delay_pending')) < total && Date.now() < dueAt) await sleep(200);
    const storedAt = Date.now();
    const pendingAtDue = await run.service.metric('sto_delay_pending');
    await reader.waitFor(total, dueAt + 120_000);
    const observations = [...reader.seen.values()];
    const lastSeen = Math.max(...observations.map((seen) => seen.seenAt));
    const lastReleased = Math.max(...observations.map((seen) => seen.releasedAt));
    const firstReleased = Math.min(...observations.map((seen) => seen.releasedAt));
    const early = observations.filter((seen) => seen.releasedAt < seen.sendAt).length;
    const drainMs = lastSeen - dueAt;
    return {
      title: `Delay service: burst of ${total.toLocaleString('en-US')} sends due at the same instant`,
      method:
        `${total.toLocaleString('en-US')} scheduled sends, all with the same sendAt, produced ${((dueAt - producedAt) / 1_000).toFixed(0)} s ahead to ${PARTITIONS} partitions ` +
        `(stored ${storedAt < dueAt ? `${((dueAt - storedAt) / 1_000).toFixed(1)} s before the instant` : 'only after the instant'}; ${pendingAtDue} pending when waiting stopped); ` +
        'one delay service child (default release batch of 1,000 per partition), real broker. The drain time runs from the due instant to the moment the last ready record reached a consumer in the bench process.',
      figures: [
        { name: 'sends released', value: observations.length, unit: `of ${total}`, aim: 'all', met: observations.length === total },
        { name: 'released before sendAt', value: early, unit: 'sends', aim: 'none', met: early === 0 },
        { name: 'first release after the instant', value: firstReleased - dueAt, unit: 'ms' },
        { name: 'last release after the instant (releasedAt)', value: lastReleased - dueAt, unit: 'ms' },
        { name: 'due instant to last ready record consumed', value: drainMs, unit: 'ms' },
        { name: 'burst release rate', value: Math.round(observations.length / (drainMs / 1_000)), unit: 'sends/s' },
      ],
    };
  });
}

/**
 * 3. The cost of stop rules, caps and suppression: bursts of sends due at one instant, released by
 * one delay service in one run, alternately plain (no stop rules, no caps) and guarded (three stop
 * rules and caps on every send, every recipient with stop events and a suppression on another
 * channel in its guard, none of which holds the send back, so both release every send).
 */
async function guardCost(size: BenchSize): Promise<BenchSection> {
  const total = SIZES[size].burstSends;
  const recipients = Math.max(1, Math.floor(total / 5));
  // One round of each kind first warms the service up (its first burst is slower); it is left out.
  // Then four pairs: on a shared machine one burst's rate varies by half, so the medians are compared.
  const rounds = ['plain', 'guarded', 'plain', 'guarded', 'plain', 'guarded', 'plain', 'guarded', 'plain', 'guarded'] as const;
  const WARM_UP_ROUNDS = 2;
  return withReadyRun('guards', async ({ run, reader, producer, writer }) => {
    const engagementWriter = await run.codec.writer('engagement', valueSubject(run.topics.engagement));
    const results: Array<{ kind: (typeof rounds)[number]; rate: number; firstMs: number; released: number; early: number }> = [];
    let appliedEvents = 0;
    for (const [round, kind] of rounds.entries()) {
      reader.reset();
      const recipientBase = round * recipients;
      if (kind === 'guarded') {
        // Each recipient clicked another campaign and unsubscribed from push: the guard is read and matched, nothing stops.
        const events: Message[] = [];
        for (let r = 0; r < recipients; r++) {
          for (const [eventType, channel, campaignId] of [['CLICK', 'EMAIL', 'other-campaign'], ['UNSUBSCRIBE', 'PUSH', 'other-campaign']] as const) {
            const event: EngagementEvent = {
              eventId: `evt-${round}-${r}-${eventType}`,
              recipientId: benchScheduledSend(0, recipientBase + r, 0, 0).recipientId,
              channel,
              eventType,
              occurredAt: Date.now(),
              timeZone: null,
              campaignId,
              messageId: null,
              machineOpen: null,
              userAgent: null,
              deliveredAt: null,
              correlationId: `cart-other-${r}`,
              attributes: {},
            };
            events.push({ key: event.recipientId, value: run.codec.encode(engagementWriter, event) });
          }
        }
        for (let at = 0; at < events.length; at += 2_000) await producer.send({ topic: run.topics.engagement, messages: events.slice(at, at + 2_000) });
        appliedEvents += events.length;
        const deadline = Date.now() + 120_000;
        while ((await run.service.metric('sto_delay_engagement_events_total', { outcome: 'applied' })) < appliedEvents && Date.now() < deadline) await sleep(200);
      }
      const producedAt = Date.now();
      const dueAt = producedAt + Math.min(SIZES[size].burstLeadMs, 15_000);
      const messages: Message[] = Array.from({ length: total }, (_, index) => {
        const plain = benchScheduledSend(round * total + index, recipientBase + (index % recipients), dueAt, producedAt);
        const send: ScheduledSend =
          kind === 'plain'
            ? plain
            : {
                ...plain,
                correlationId: `cart-${index % recipients}`,
                stopOn: [
                  { eventType: 'CONVERSION', sameCorrelation: true, sameCampaign: false },
                  { eventType: 'CLICK', sameCorrelation: false, sameCampaign: true },
                  { eventType: 'UNSUBSCRIBE', sameCorrelation: false, sameCampaign: false },
                ],
                caps: { perDay: 10, perWeek: 50 },
              };
        return { key: send.recipientId, value: run.codec.encode(writer, send) };
      });
      const pendingBefore = await run.service.metric('sto_delay_pending');
      for (let at = 0; at < messages.length; at += 2_000) await producer.send({ topic: run.topics.scheduled, messages: messages.slice(at, at + 2_000) });
      while ((await run.service.metric('sto_delay_pending')) < pendingBefore + total && Date.now() < dueAt) await sleep(200);
      await reader.waitFor(total, dueAt + 120_000);
      const observations = [...reader.seen.values()];
      const lastSeen = Math.max(...observations.map((seen) => seen.seenAt));
      const firstReleased = Math.min(...observations.map((seen) => seen.releasedAt));
      if (round < WARM_UP_ROUNDS) continue;
      results.push({
        kind,
        // From the first release (after the stop grace) to the last ready record consumed.
        rate: Math.round(observations.length / ((lastSeen - firstReleased) / 1_000)),
        firstMs: firstReleased - dueAt,
        released: observations.length,
        early: observations.filter((seen) => seen.releasedAt < seen.sendAt).length,
      });
    }
    const median = (kind: 'plain' | 'guarded') => {
      const rates = results.filter((result) => result.kind === kind).map((result) => result.rate).sort((a, b) => a - b);
      const middle = Math.floor(rates.length / 2);
      return rates.length % 2 === 1 ? rates[middle]! : Math.round((rates[middle - 1]! + rates[middle]!) / 2);
    };
    const plain = median('plain');
    const guarded = median('guarded');
    const cost = Math.round((1 - guarded / plain) * 1_000) / 10;
    const released = results.reduce((sum, result) => sum + result.released, 0);
    const early = results.reduce((sum, result) => sum + result.early, 0);
    return {
      title: `Delay service: release throughput with and without stop rules, caps and suppression (bursts of ${total.toLocaleString('en-US')})`,
      method:
        `One delay service child (default settings, STO_DELAY_STOP_GRACE_MS 100), real broker, ${PARTITIONS} partitions; ${rounds.length} bursts of ${total.toLocaleString('en-US')} sends due at one instant ` +
        `(${recipients.toLocaleString('en-US')} recipients per burst, 5 sends each, new recipients each burst), produced ${(Math.min(SIZES[size].burstLeadMs, 15_000) / 1_000).toFixed(0)} s ahead, alternately plain and guarded; the first two warm the service up and are left out, and the medians of the other ${rounds.length - 2} are compared. ` +
        'Plain: no stop rules, no caps. Guarded: stop rules CONVERSION (same correlation), CLICK (same campaign) and UNSUBSCRIBE, caps 10 a day and 50 a week, and every recipient has a CLICK of another campaign and a PUSH unsubscribe in its guard (applied before the burst), so every rule and the suppression list is checked and none holds a send back. ' +
        'Both kinds pay what the delay service now does for every send (the engagement watermark, the guard read and the release history write); the rate runs from the first release (releasedAt; the first comes after the 100 ms stop grace) to the last ready record consumed by the bench process.',
      figures: [
        { name: 'sends released (measured bursts)', value: released, unit: `of ${results.length * total}`, aim: 'all', met: released === results.length * total },
        { name: 'released before sendAt', value: early, unit: 'sends', aim: 'none', met: early === 0 },
        ...results.map((result, index) => ({ name: `burst ${index + WARM_UP_ROUNDS + 1} (${result.kind}) release rate`, value: result.rate, unit: 'sends/s' })),
        ...results.map((result, index) => ({ name: `burst ${index + WARM_UP_ROUNDS + 1} (${result.kind}) first release after the instant`, value: result.firstMs, unit: 'ms' })),
        { name: 'plain release rate (median)', value: plain, unit: 'sends/s' },
        { name: 'guarded release rate (median)', value: guarded, unit: 'sends/s', reference: { name: 'plain', value: plain, unit: 'sends/s' } },
        { name: 'cost of stop rules, caps and suppression', value: cost, unit: '% of the plain rate', aim: '< 10%', met: cost < 10 },
      ],
    };
  });
}

async function residentBytes(pid: number | null): Promise<{ rss: number; peak: number }> {
  if (pid === null) return { rss: Number.NaN, peak: Number.NaN };
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1_024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

async function directoryBytes(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** 3. Memory and disk with millions of pending sends. */
async function pendingFootprint(size: BenchSize): Promise<BenchSection> {
  const target = SIZES[size].pendingSends;
  const sendsPerRecipient = 5;
  const chunk = 10_000;
  const inFlight = 4;
  // The broker's default max.message.bytes (1 MiB) stays: the service splits its changelog writes.
  const run = await startDelayRun('pending', {});
  const producer = run.kafka.producer({ allowAutoTopicCreation: false });
  try {
    await sleep(2_000);
    const idle = await residentBytes(run.service.pid);
    await producer.connect();
    const writer = await run.codec.writer('scheduled', valueSubject(run.topics.scheduled));
    const templates = new ScheduledSendTemplates(run.codec, writer);
    // Due at the top of the hour, over the week that starts a day from now: nothing is released during the run.
    const firstSlot = Math.ceil(Date.now() / HOUR_MS) * HOUR_MS + 24 * HOUR_MS;
    const slotOf = (index: number) => firstSlot + (index % 168) * HOUR_MS;
    const recordBytes = await templates.recordBytes(firstSlot);
    const started = Date.now();
    const sending = new Set<Promise<unknown>>();
    for (let at = 0; at < target; at += chunk) {
      const messages: Message[] = [];
      for (let index = at; index < Math.min(target, at + chunk); index++) messages.push(await templates.message(index, Math.floor(index / sendsPerRecipient), slotOf(index)));
      const sent = producer.send({ topic: run.topics.scheduled, messages, acks: -1 });
      sending.add(sent);
      void sent.finally(() => sending.delete(sent));
      if (sending.size >= inFlight) await Promise.race(sending);
    }
    await Promise.all(sending);
    const producedSeconds = (Date.now() - started) / 1_000;

    // Wait until the service holds them all, within the load budget; give up when it stops making progress.
    let pending = 0;
    let progressAt = Date.now();
    const budgetMinutes = Number(process.env.STO_BENCH_DELAY_LOAD_MINUTES ?? SIZES[size].loadBudgetMinutes);
    const deadline = started + budgetMinutes * 60_000;
    while (pending < target && Date.now() < deadline && Date.now() - progressAt < 120_000) {
      await sleep(2_000);
      const now = await run.service.metric('sto_delay_pending');
      if (now > pending) progressAt = Date.now();
      if (Number.isFinite(now)) pending = now;
    }
    const loadedSeconds = (Date.now() - started) / 1_000;
    await sleep(5_000);
    const loaded = await residentBytes(run.service.pid);
    const diskBytes = await directoryBytes(run.stateDir);
    const complete = pending >= target;
    const label = complete ? `${(pending / 1e6).toLocaleString('en-US')}M pending` : `${pending.toLocaleString('en-US')} pending (of ${target.toLocaleString('en-US')} produced)`;
    return {
      title: complete
        ? `Delay service: memory and disk with ${(target / 1e6).toLocaleString('en-US')} million pending sends`
        : `Delay service: memory and disk with ${pending.toLocaleString('en-US')} pending sends (${(target / 1e6).toLocaleString('en-US')} million were the target)`,
      method:
        `${target.toLocaleString('en-US')} scheduled sends (${recordBytes} bytes each in Avro, ${sendsPerRecipient} per recipient, due at the top of each hour of the week that starts a day later) ` +
        `produced in ${producedSeconds.toFixed(0)} s in batches of ${chunk.toLocaleString('en-US')} (no compression, acks=all) to ${PARTITIONS} partitions; ` +
        `the delay service child (default settings) ${complete ? `held all of them after ${loadedSeconds.toFixed(0)} s` : `held only ${pending.toLocaleString('en-US')} when the run stopped waiting after ${loadedSeconds.toFixed(0)} s (load budget ${budgetMinutes} min, STO_BENCH_DELAY_LOAD_MINUTES; it was still ingesting, so RSS and disk are of a service mid-backlog)`}` +
        ' (its sto_delay_pending gauge). ' +
        'The changelog topic keeps the broker default max.message.bytes (1 MiB). RSS is VmRSS of the child from /proc 5 s later, beside its RSS when idle with nothing pending; disk is every file under its state directory (LevelDB, uncompacted).',
      figures: [
        { name: 'pending sends held', value: pending, unit: 'sends', aim: `${target.toLocaleString('en-US')}`, met: complete },
        { name: `service RSS with ${label}`, value: Math.round(loaded.rss / 2 ** 20), unit: 'MiB', reference: { name: 'same process idle, 0 pending', value: Math.round(idle.rss / 2 ** 20), unit: 'MiB' } },
        { name: 'service peak RSS while loading (VmHWM)', value: Math.round(loaded.peak / 2 ** 20), unit: 'MiB' },
        { name: 'LevelDB state on disk', value: Math.round(diskBytes / 2 ** 20), unit: 'MiB' },
        { name: 'LevelDB disk bytes per pending send', value: Math.round(diskBytes / Math.max(1, pending)), unit: 'bytes' },
        { name: `ingest rate (first record produced to ${complete ? 'all' : 'the last'} pending stored)`, value: Math.round(pending / loadedSeconds), unit: 'sends/s' },
      ],
    };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await run.finish();
  }
}

const BENCHMARKS = { steady: steadyLateness, burst: burstRelease, guards: guardCost, pending: pendingFootprint } as const;
type DelayBenchmark = keyof typeof BENCHMARKS;

/** Runs the delay service's benchmarks one after the other (all, or the ones named in `only`). */
export async function runDelayBenchmarks(options: { size?: BenchSize; only?: readonly DelayBenchmark[] } = {}): Promise<BenchSection[]> {
  const sections: BenchSection[] = [];
  for (const name of options.only ?? (Object.keys(BENCHMARKS) as DelayBenchmark[])) sections.push(await BENCHMARKS[name](options.size ?? 'full'));
  return sections;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // --quick or --smoke for shorter runs; --only=steady,burst,pending to pick benchmarks.
  const size: BenchSize = process.argv.includes('--smoke') ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full';
  const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
  const unknown = only?.filter((name) => !(name in BENCHMARKS)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  // One at a time, each printed as soon as it is measured.
  for (const name of (only as DelayBenchmark[] | undefined) ?? (Object.keys(BENCHMARKS) as DelayBenchmark[])) {
    for (const section of await runDelayBenchmarks({ size, only: [name] })) console.log(formatSection(section));
  }
}
