/**
 * The engine's benchmarks on the real broker, in one pipeline on a one-partition topic set:
 *
 * 1. ingest: a sparse population's engagement history is produced once; the same kafkajs client
 *    consuming and decoding it with no state (the reference) and the engine building its stores
 *    from it are timed from their first to their last record;
 * 2. state size: bytes per recipient, as encoded values and as LevelDB files on disk;
 * 3. restore: a second engine with an empty state directory takes the partition over and rebuilds
 *    it from the changelog; time until it is ready;
 * 4. decisions: triggers at a steady rate against the restored state, latency from producing the
 *    trigger to the scheduled send in the first seconds after ready (cold) and after a warm-up
 *    (steady), then the drain rate of a burst.
 */
import { Consumer, MessagesStreamModes } from '@platformatic/kafka';
import { ClassicLevel } from 'classic-level';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Batch, Kafka } from 'kafkajs';
import { ChildService } from '../services/demo/child-service.ts';
import { decodeRecipient } from '../services/engine/recipient-record.ts';
import { SUB_BATCH_BYTES } from '../services/shared/stream/batch-applier.ts';
import { changelogMessages } from '../services/shared/stream/changelog.ts';
import { encodeProfile, type Profile } from '../services/model/profile.ts';
import type { EngagementEvent, ScheduledSend, SendTrigger } from '../services/shared/contracts/record-types.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../services/shared/contracts/schema-codec.ts';
import { valueSubject } from '../services/shared/contracts/schema-files.ts';
import { createKafka } from '../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../services/shared/logger.ts';
import { produceRecords } from '../test/integration/support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../test/integration/support/stack.ts';
import { freePort } from './free-port.ts';
import { prng, sparsePopulation } from './sparse-population.ts';
import { buildPeer, counterDifference, readPeerDump, runPeer, type Guarantee, type PeerRun } from './kafka-streams-peer.ts';
import { formatSection, percentile, type BenchSection } from './report.ts';


export interface EngineBenchOptions {
  /** Recipients in the population (the issue's figure is for 1M). */
  recipients?: number;
  /** Seconds of steady trigger traffic counted as the steady state (after up to 5 s cold and 5 s of warm-up, reported apart and not counted). */
  steadySeconds?: number;
  triggersPerSecond?: number;
  burstTriggers?: number;
  quick?: boolean;
}

function trigger(id: string, recipient: string, now: number): SendTrigger {
  return {
    triggerId: id,
    recipientId: recipient,
    campaignId: 'bench',
    messageId: `m-${id}`,
    channel: 'EMAIL',
    triggerKind: 'CAMPAIGN',
    urgency: 'NORMAL',
    occurredAt: now,
    timeZone: null,
    windowHours: 24,
    sendAt: null,
    quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 },
    quietHoursPolicy: null,
    defaultLocalMinute: 10 * 60,
    objective: 'OPEN',
    holdoutShare: 0,
    payload: Buffer.alloc(0),
    attributes: {},
  };
}

async function directoryBytes(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    total += entry.isDirectory() ? await directoryBytes(full) : (await stat(full)).size;
  }
  return total;
}

/** Raw reference: the same client consuming and decoding every record, no state. */
async function rawConsumeRate(kafka: Kafka, codec: SchemaCodec, topic: string, count: number): Promise<ClientRun> {
  return consumeBatches(kafka, topic, 'bench-raw', count, async (batch) => {
    for (const message of batch.messages) await codec.decode('engagement', message.value);
  });
}

/** A client's run over `count` records: records per second from its first fetched batch to its last, and the CPU it used meanwhile. */
type ClientRun = { rate: number; seconds: number; cpuSeconds: number };

/**
 * kafkajs consuming `topic` from its start, each fetched batch handed to `handle`, until `count`
 * records are through; timed from the first batch (so not the group join) to the end of the last.
 */
async function consumeBatches(kafka: Kafka, topic: string, name: string, count: number, handle: (batch: Batch) => Promise<void>): Promise<ClientRun> {
  const consumer = kafka.consumer({ groupId: `${topic}.${name}.${Date.now()}`, maxBytes: 10 * 1024 * 1024 });
  await consumer.connect();
  let seen = 0;
  let first = 0;
  let last = 0;
  let cpuAtFirst = process.cpuUsage();
  let done: () => void = () => undefined;
  let fail: (error: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      try {
        if (first === 0) {
          first = performance.now();
          cpuAtFirst = process.cpuUsage();
        }
        await handle(batch);
        seen += batch.messages.length;
        last = performance.now();
        if (seen >= count) done();
      } catch (error) {
        fail(error);
      }
    },
  });
  let cpu: NodeJS.CpuUsage;
  try {
    await finished;
    cpu = process.cpuUsage(cpuAtFirst);
  } finally {
    await consumer.disconnect();
  }
  const seconds = (last - first) / 1000;
  return { rate: count / seconds, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** A stored recipient's value, bytes: about its mean in the engine's store after this population's ingest. */
export const CEILING_VALUE_BYTES = 76;

/**
 * The client's ceiling for the engine: rawConsumeRate plus, per event, one changelog-sized record
 * produced as the engine produces it (the engine's producer settings: idempotent, one request in
 * flight, acks from all replicas; each fetched batch cut into commits of SUB_BATCH_BYTES of state,
 * each commit's records, coalesced per key, and its offset entry in one awaited request to a
 * compacted changelog topic of its own). No state, no LevelDB, no counters: what kafkajs alone
 * costs the engine per event, so no engine built on it ingests faster than this.
 */
export async function rawConsumeProduceRate(
  kafka: Kafka,
  codec: SchemaCodec,
  topic: string,
  changelogTopic: string,
  count: number,
  commitBytes = SUB_BATCH_BYTES,
): Promise<ClientRun> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const value = Buffer.alloc(CEILING_VALUE_BYTES, 7);
  try {
    return await consumeBatches(kafka, topic, 'bench-raw-produce', count, async (batch) => {
      let dirty = new Map<string, Buffer | null>();
      let bytes = 0;
      let nextOffset = 0;
      const commit = async () => {
        if (dirty.size === 0) return;
        await producer.sendBatch({ topicMessages: [{ topic: changelogTopic, messages: changelogMessages(batch.partition, dirty, { [topic]: nextOffset }) }] });
        dirty = new Map();
        bytes = 0;
      };
      for (const message of batch.messages) {
        const event = (await codec.decode('engagement', message.value)) as EngagementEvent;
        const key = `r:${event.recipientId}`;
        dirty.set(key, value);
        bytes += key.length + value.length;
        nextOffset = Number(message.offset) + 1;
        if (bytes > commitBytes) await commit();
      }
      await commit();
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * What the raw rates say about the engine's client: the share of the engine's time per event that
 * kafkajs's consuming and decoding takes (1/raw of 1/engine), and the engine's rate if that part
 * cost what it costs with @platformatic/kafka (an estimate: the changelog's produce is not in it).
 */
export function clientNote(engineRate: number, kafkajsRate: number, platformaticRate: number): string {
  const share = engineRate / kafkajsRate;
  const swapped = 1 / (1 / engineRate - 1 / kafkajsRate + 1 / platformaticRate);
  const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
  const bound = share >= 0.5 ? 'kafkajs bounds the engine: its consuming and decoding takes most of the engine\'s time per event' : 'kafkajs does not bound the engine';
  return `Client: consuming and decoding with kafkajs takes ${percent(share)} of the engine's time per event, so ${bound}; the same work with @platformatic/kafka ran at ${(platformaticRate / kafkajsRate).toFixed(2)}× kafkajs's rate, which would move the engine to about ${Math.round(swapped).toLocaleString('en-US')} events/s (${swapped >= engineRate ? '+' : ''}${percent(swapped / engineRate - 1)}; consuming only, the changelog is produced with kafkajs too).`;
}

/**
 * rawConsumeRate with @platformatic/kafka instead of kafkajs: the same topic from the start, the
 * same Avro decoding of each value (SchemaCodec: Confluent framing, avsc with the registered
 * schema), no state, no commits; the client's default fetch sizes (50 MB a fetch).
 */
async function rawConsumeRatePlatformatic(brokers: string[], codec: SchemaCodec, topic: string, count: number): Promise<ClientRun> {
  const consumer = new Consumer({ groupId: `${topic}.bench-raw-platformatic.${Date.now()}`, clientId: 'bench-raw-platformatic', bootstrapBrokers: brokers, autocommit: false });
  let seen = 0;
  let first = 0;
  let last = 0;
  let cpuAtFirst = process.cpuUsage();
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    for await (const message of stream) {
      if (first === 0) {
        first = performance.now();
        cpuAtFirst = process.cpuUsage();
      }
      await codec.decode('engagement', message.value);
      seen++;
      if (seen >= count) break;
    }
    last = performance.now();
  } finally {
    await consumer.close(true);
  }
  const cpu = process.cpuUsage(cpuAtFirst);
  const seconds = (last - first) / 1000;
  return { rate: count / seconds, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** Polls a counter until it reaches `target`; rate from the first poll that saw progress. */
async function timeCounter(
  read: () => Promise<number>,
  target: number,
  timeoutMs: number,
  cpu: () => Promise<number> = async () => 0,
): Promise<{ rate: number; seconds: number; cpuSeconds: number }> {
  const deadline = Date.now() + timeoutMs;
  let startValue = -1;
  let startAt = 0;
  let startCpu = 0;
  for (;;) {
    const value = await read();
    const at = performance.now();
    if (startValue < 0 && value > 0) {
      startValue = value;
      startAt = at;
      startCpu = await cpu();
    }
    if (value >= target) {
      const seconds = (at - startAt) / 1000;
      return { rate: (value - startValue) / seconds, seconds, cpuSeconds: (await cpu()) - startCpu };
    }
    if (Date.now() > deadline) throw new Error(`counter reached ${value} of ${target} in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The sampled recipients' profiles in the engine's (stopped) store; null where there is none. */
async function engineProfiles(stateDir: string, ids: readonly string[]): Promise<Map<string, Profile | null>> {
  const db = new ClassicLevel<string, Buffer>(join(stateDir, 'partition-0'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    const values = await db.getMany(ids.map((id) => `r:${id}`));
    return new Map(ids.map((id, index) => [id, values[index] ? decodeRecipient(values[index]!).profile : null]));
  } finally {
    await db.close();
  }
}

/** 1,000 recipients spread over the population (or all of a smaller one): the correctness sample. */
function sampleIds(recipients: number): string[] {
  const count = Math.min(1_000, recipients);
  return Array.from({ length: count }, (_, i) => `rcpt-${Math.floor((i * recipients) / count)}`);
}

async function stateSize(stateDir: string, recipients: number): Promise<{ valueBytes: number; recipientBytes: number; diskBytes: number }> {
  const db = new ClassicLevel<string, Buffer>(join(stateDir, 'partition-0'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  let valueBytes = 0;
  let recipientBytes = 0;
  for await (const [key, value] of db.iterator()) {
    // Per recipient, one value: the counters and the recent event ids kept for deduplication.
    if (key.startsWith('r:')) {
      valueBytes += encodeProfile(decodeRecipient(value).profile).length;
      recipientBytes += Buffer.byteLength(key) + value.length;
    }
  }
  await db.compactRange('\x00', '\xff');
  await db.close();
  return { valueBytes: valueBytes / recipients, recipientBytes: recipientBytes / recipients, diskBytes: (await directoryBytes(join(stateDir, 'partition-0'))) / recipients };
}

export async function runEngineBenchmarks(options: EngineBenchOptions = {}): Promise<BenchSection[]> {
  const quick = options.quick ?? false;
  const recipients = options.recipients ?? (quick ? 50_000 : 1_000_000);
  const steadySeconds = options.steadySeconds ?? (quick ? 10 : 30);
  const triggersPerSecond = options.triggersPerSecond ?? 2_000;
  const burstTriggers = options.burstTriggers ?? (quick ? 10_000 : 40_000);
  const log = (message: string) => process.stderr.write(`bench engine: ${message}\n`);

  const common = stackConfig();
  const kafka = createKafka(common.kafka, createLogger('bench-engine', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const topics = uniqueTopics('bench-engine');
  await createTestTopics(topics, 1);
  const dirA = await temporaryDir('bench-engine-a');
  const dirB = await temporaryDir('bench-engine-b');
  const env = (dir: string) => ({ ...topicEnv(topics), STO_STATE_DIR: dir, STO_ENGINE_GROUP_ID: `${topics.engagement}.engine`, STO_LOG_LEVEL: 'warn', STO_ENGINE_LOOK_BACK_DAYS: '365' });
  const engineA = new ChildService({ name: 'engine-a', entry: ChildService.entry('engine'), env: env(dirA.path), adminPort: await freePort(), logPath: `${dirA.path}.log` });
  const engineB = new ChildService({ name: 'engine-b', entry: ChildService.entry('engine'), env: env(dirB.path), adminPort: await freePort(), logPath: `${dirB.path}.log` });
  try {
    const now = Date.now();
    log(`generating the history of ${recipients.toLocaleString('en-US')} recipients`);
    const events = sparsePopulation(recipients, now);
    log(`producing ${events.length.toLocaleString('en-US')} engagement events`);
    await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: events, key: (event) => event.recipientId });

    log('reference: consuming and decoding with no state');
    const raw = await rawConsumeRate(kafka, codec, topics.engagement, events.length);
    log(`reference: ${Math.round(raw.rate)} records/s`);
    log('reference: consuming and decoding with no state, @platformatic/kafka');
    const rawPlatformatic = await rawConsumeRatePlatformatic(common.kafka.brokers, codec, topics.engagement, events.length);
    log(`reference (@platformatic/kafka): ${Math.round(rawPlatformatic.rate)} records/s`);
    log('ceiling: consuming and decoding, one changelog-sized record produced per event');
    // A changelog topic of its own: the engine would restore whatever this wrote to its own.
    const ceilingTopics = uniqueTopics('bench-ceiling');
    await createTestTopics(ceilingTopics, 1);
    const ceiling = await rawConsumeProduceRate(kafka, codec, topics.engagement, ceilingTopics.engineChangelog, events.length);
    log(`ceiling: ${Math.round(ceiling.rate)} records/s`);

    log('engine: building its store');
    engineA.start();
    await engineA.waitReady(120_000);
    const ingest = await timeCounter(
      async () => (await engineA.metric('sto_stream_records_total', { topic: topics.engagement, outcome: 'applied' })) || 0,
      events.length,
      3_600_000,
      async () => (await engineA.metric('sto_process_cpu_seconds_total')) || 0,
    );
    log(`engine: ${Math.round(ingest.rate)} records/s`);
    const applied = await engineA.metric('sto_engine_engagement_events_total', { outcome: 'applied' });
    await engineA.stop();
    const sample = sampleIds(recipients);
    const engineSample = await engineProfiles(dirA.path, sample);
    const size = await stateSize(dirA.path, recipients);

    // The Kafka Streams peer on the same topic, once per guarantee; each dumps the sample at the end.
    buildPeer(log);
    const sampleFile = join(dirA.path, 'sample.txt');
    await writeFile(sampleFile, `${sample.join('\n')}\n`);
    const peers = new Map<Guarantee, PeerRun & { agreeing: number; firstDifference: string | null }>();
    for (const guarantee of ['exactly_once_v2', 'at_least_once'] as const) {
      log(`Kafka Streams peer (${guarantee}): building its store`);
      const peerDir = await temporaryDir(`bench-peer-${guarantee}`);
      try {
        const dump = join(peerDir.path, 'dump.jsonl');
        const run = await runPeer({
          bootstrap: common.kafka.brokers.join(','),
          registry: common.registry.url,
          topic: topics.engagement,
          applicationId: `${topics.engagement}.peer-${guarantee.replace(/_/g, '-')}`,
          guarantee,
          stateDir: join(peerDir.path, 'state'),
          records: events.length,
          lookBackDays: 365,
          sample: { ids: sampleFile, dump },
          timeoutSeconds: 3_600,
        });
        const counters = await readPeerDump(dump);
        let agreeing = 0;
        let firstDifference: string | null = null;
        for (const id of sample) {
          const difference = counterDifference(engineSample.get(id) ?? null, counters.get(id));
          if (difference === null) agreeing++;
          else firstDifference ??= `${id}: ${difference}`;
        }
        peers.set(guarantee, { ...run, agreeing, firstDifference });
        log(`Kafka Streams peer (${guarantee}): ${Math.round(run.rate)} records/s; ${agreeing} of ${sample.length} sampled recipients agree with the engine${firstDifference ? ` (first difference: ${firstDifference})` : ''}`);
      } finally {
        await peerDir.remove();
      }
    }
    const eos = peers.get('exactly_once_v2')!;
    const alos = peers.get('at_least_once')!;

    log('restore: a new instance rebuilds the partition from the changelog');
    const restoreStart = performance.now();
    engineB.start();
    await engineB.waitReady(3_600_000);
    const restoreToReady = (performance.now() - restoreStart) / 1000;
    const restoreSeconds = await engineB.metric('sto_state_restore_seconds_sum');
    const restoredRecords = await engineB.metric('sto_state_restored_records_total');

    const plan = steadyPlan(steadySeconds);
    log(`decisions: ${triggersPerSecond}/s for ${plan.coldSeconds} s cold, ${plan.warmUpSeconds} s of warm-up and ${steadySeconds} s steady, then a burst of ${burstTriggers}`);
    const decisions = await measureDecisions(kafka, codec, topics.triggers, topics.scheduled, recipients, { ...plan, triggersPerSecond, burstTriggers });
    await engineB.stop();

    const perRecipientAim = recipients >= 1_000_000 ? 'under 200 bytes' : 'under 200 bytes (at 1M recipients)';
    return [
      {
        title: 'Engine: engagement ingest, beside Kafka Streams',
        method: `${events.length.toLocaleString('en-US')} engagement events of ${recipients.toLocaleString('en-US')} recipients (sparse: geometric event counts, mean ${(events.length / recipients).toFixed(1)}), one partition, produced before any consumer starts; then, one after the other on the same topic: the kafkajs client consuming and Avro-decoding it with no state (raw), the engine building its store, and the Kafka Streams peer (bench/peers/kafka-streams: Kafka Streams 3.9.1, a Processor with a persistent RocksDB KeyValueStore, a 64 MiB record cache and a changelog, the default commit interval (100 ms exactly-once, 30 s at-least-once) and RocksDB settings, Apache Avro against the registered schema; one stream thread) with exactly_once_v2 and with at_least_once. The raw reference is run twice, with kafkajs (the engine's client) and with @platformatic/kafka (kafkajs with 10 MB a fetch, @platformatic/kafka with its default 50 MB), the same Avro decoding of every value. The client's ceiling for the engine: the raw kafkajs reference plus, per event, one changelog record of a recipient's key and a ${CEILING_VALUE_BYTES}-byte value (about the stored value's mean) produced as the engine produces its changelog (idempotent producer, one request in flight, every replica's acknowledgement, each fetched batch cut into commits of ${SUB_BATCH_BYTES / 1024} KiB of state, each commit one awaited request, records coalesced per key), with no state and no LevelDB: no engine on kafkajs that commits this way ingests faster, by the clock or per CPU-second. Each does per event: event-id deduplication, the zone to the local hour-of-week slot, the decayed counters per channel and signal, machine opens apart, the recent layer (a second copy of the day's first engagements, decayed per active day) and the predictive record that weighs it, one read and one write of the recipient (the engine also updates its cohort and population aggregates, which the peer does not). Rates from the first to the last record (the engine's to its commit of the last record); per CPU-second divides the records by the CPU time the process used over the same span (all its threads: for the JVM, GC and JIT too; the broker's is in neither), which other work on a shared machine does not take. Correctness: ${sample.length.toLocaleString('en-US')} recipients spread over the population, read from the engine's store and from each peer's store at the end, agree when events, active days, zone, reference time, the recent layer's predictive record (to the thousandth both store) and every cell, the recent layer's included, agree (cell values within 0.2%). ${clientNote(ingest.rate, raw.rate, rawPlatformatic.rate)}`,
        figures: [
          { name: 'engine ingest rate', value: ingest.rate, unit: 'events/s', reference: { name: 'raw consume + decode (kafkajs)', value: raw.rate, unit: 'events/s' } },
          { name: 'raw consume + decode, @platformatic/kafka', value: rawPlatformatic.rate, unit: 'events/s', reference: { name: 'kafkajs', value: raw.rate, unit: 'events/s' } },
          { name: 'raw consume + decode, @platformatic/kafka / kafkajs', value: rawPlatformatic.rate / raw.rate, unit: '×' },
          { name: 'raw consume + decode per CPU-second, @platformatic/kafka / kafkajs', value: raw.cpuSeconds / rawPlatformatic.cpuSeconds, unit: '×' },
          { name: 'engine share of the raw rate (@platformatic/kafka)', value: (100 * ingest.rate) / rawPlatformatic.rate, unit: '%' },
          { name: 'Kafka Streams ingest rate, exactly_once_v2', value: eos.rate, unit: 'events/s' },
          { name: 'Kafka Streams ingest rate, at_least_once', value: alos.rate, unit: 'events/s' },
          { name: 'engine / Kafka Streams (exactly_once_v2)', value: ingest.rate / eos.rate, unit: '×', aim: '1.5 or more', met: ingest.rate / eos.rate >= 1.5 },
          { name: 'engine events per CPU-second', value: ingest.rate * ingest.seconds / ingest.cpuSeconds, unit: 'events/s', reference: { name: 'raw consume + decode (kafkajs)', value: events.length / raw.cpuSeconds, unit: 'events/s' } },
          { name: 'Kafka Streams (exactly_once_v2) events per CPU-second', value: eos.records / eos.cpuSeconds, unit: 'events/s' },
          { name: 'Kafka Streams (at_least_once) events per CPU-second', value: alos.records / alos.cpuSeconds, unit: 'events/s' },
          { name: 'engine / Kafka Streams (exactly_once_v2), per CPU-second', value: (ingest.rate * ingest.seconds * eos.cpuSeconds) / (ingest.cpuSeconds * eos.records), unit: '×' },
          { name: 'engine / Kafka Streams (at_least_once)', value: ingest.rate / alos.rate, unit: '×' },
          { name: 'engine share of the raw rate', value: (100 * ingest.rate) / raw.rate, unit: '%', aim: '50% or more', met: ingest.rate >= 0.5 * raw.rate },
          { name: 'ceiling: raw consume + decode + one changelog-sized record produced per event (kafkajs)', value: ceiling.rate, unit: 'events/s', reference: { name: 'raw consume + decode (kafkajs)', value: raw.rate, unit: 'events/s' } },
          { name: 'ceiling events per CPU-second', value: events.length / ceiling.cpuSeconds, unit: 'events/s', reference: { name: 'raw consume + decode (kafkajs)', value: events.length / raw.cpuSeconds, unit: 'events/s' } },
          { name: 'ceiling share of the raw rate (the most the engine share can reach; its aim: 50%)', value: (100 * ceiling.rate) / raw.rate, unit: '%' },
          { name: 'ceiling / Kafka Streams (exactly_once_v2) (the most the engine ratio can reach; its aim: 1.5)', value: ceiling.rate / eos.rate, unit: '×' },
          { name: 'engine share of the ceiling', value: (100 * ingest.rate) / ceiling.rate, unit: '%' },
          { name: 'engine share of the ceiling per CPU-second', value: (100 * ingest.rate * ingest.seconds * ceiling.cpuSeconds) / (ingest.cpuSeconds * events.length), unit: '%' },
          { name: 'Kafka Streams (exactly_once_v2) share of the raw rate', value: (100 * eos.rate) / raw.rate, unit: '%' },
          { name: 'Kafka Streams (at_least_once) share of the raw rate', value: (100 * alos.rate) / raw.rate, unit: '%' },
          { name: 'sampled recipients equal, engine and Kafka Streams (exactly_once_v2)', value: eos.agreeing, unit: `of ${sample.length}`, aim: 'all', met: eos.agreeing === sample.length },
          { name: 'sampled recipients equal, engine and Kafka Streams (at_least_once)', value: alos.agreeing, unit: `of ${sample.length}`, aim: 'all', met: alos.agreeing === sample.length },
          { name: 'events applied (the rest: too old, duplicates)', value: applied, unit: 'events' },
        ],
      },
      {
        title: 'Engine: state size',
        method: `After the ingest above, the one partition store holds ${recipients.toLocaleString('en-US')} recipients. Encoded counters = the counters part of each recipient's value; per recipient = its key and whole value (counters and the recent event ids kept for deduplication); on disk = the LevelDB folder after a full compaction, divided by recipients (aggregates included).`,
        figures: [
          { name: 'encoded counters per recipient', value: size.valueBytes, unit: 'bytes', aim: perRecipientAim, met: size.valueBytes < 200 },
          { name: 'keys + values per recipient', value: size.recipientBytes, unit: 'bytes' },
          { name: 'LevelDB on disk per recipient', value: size.diskBytes, unit: 'bytes' },
        ],
      },
      {
        title: 'Engine: restore of a partition on a new instance',
        method: `The first instance stops; a second one with an empty state directory joins the group, gets the partition and replays its compacted changelog (${restoredRecords.toLocaleString('en-US')} records) before it reports ready.`,
        figures: [
          { name: `restore of ${recipients.toLocaleString('en-US')} recipients`, value: restoreSeconds, unit: 's' },
          { name: 'process start to ready', value: restoreToReady, unit: 's' },
        ],
      },
      {
        title: 'Engine: decisions',
        method: `Against the restored state, without a break: ${triggersPerSecond} triggers/s (every 10 ms, the triggers due by then in one request, so a slow send does not lower the rate), each a 24-hour window with quiet hours for a random known recipient; latency from just before the trigger is produced to the scheduled send as stamped by the engine's producer (CreateTime) and as read by a downstream consumer. Cold: the triggers of the first ${plan.coldSeconds} s after the engine reported ready (its cache holds the restore's last writes, as many as it keeps; its code has seen only the start-up warm-up). Then ${plan.warmUpSeconds} s not counted, then steady: the triggers of the next ${steadySeconds} s. Then ${burstTriggers.toLocaleString('en-US')} triggers at once; the drain rate is counted between the first and the last scheduled send, and also from just before the burst is produced to the last scheduled send (the first favours a runner that holds a batch's outputs until its end).`,
        figures: [
          { name: `cold (first ${plan.coldSeconds} s after ready): trigger to scheduled send produced, p50`, value: decisions.cold.producedP50, unit: 'ms' },
          { name: `cold (first ${plan.coldSeconds} s after ready): trigger to scheduled send produced, p99`, value: decisions.cold.producedP99, unit: 'ms' },
          { name: `cold (first ${plan.coldSeconds} s after ready): trigger to scheduled send consumed downstream, p99`, value: decisions.cold.consumedP99, unit: 'ms' },
          { name: `cold (first ${plan.coldSeconds} s after ready): rate achieved`, value: decisions.cold.rate, unit: 'triggers/s' },
          { name: 'steady: trigger to scheduled send produced, p50', value: decisions.steady.producedP50, unit: 'ms' },
          { name: 'steady: trigger to scheduled send produced, p99', value: decisions.steady.producedP99, unit: 'ms', aim: '50 ms or less', met: decisions.steady.producedP99 <= 50 },
          { name: 'steady: trigger to scheduled send consumed downstream, p99', value: decisions.steady.consumedP99, unit: 'ms' },
          { name: 'steady: rate achieved', value: decisions.steady.rate, unit: 'triggers/s', aim: `${triggersPerSecond}/s`, met: decisions.steady.rate >= 0.95 * triggersPerSecond },
          { name: 'decisions per second (burst drain)', value: decisions.burstRate, unit: 'decisions/s' },
          { name: 'decisions per second (burst, from its production to the last scheduled send)', value: decisions.burstRateFromTrigger, unit: 'decisions/s' },
        ],
      },
    ];
  } finally {
    await engineA.stop();
    await engineB.stop();
    await dirA.remove();
    await dirB.remove();
  }
}

/** Latency and rate of the triggers sent in one phase of the steady load. */
export interface SteadyPhase {
  producedP50: number;
  producedP99: number;
  consumedP99: number;
  /** Triggers sent in the phase per second of the phase, as achieved. */
  rate: number;
  triggers: number;
}

/** How long each phase of the steady load lasts, in seconds. */
export interface SteadyPlan {
  /** Counted apart from the start: the first seconds after the engine reported ready. */
  coldSeconds: number;
  /** Sent but not counted: the engine's code and caches settle in. */
  warmUpSeconds: number;
  /** Counted as the steady state. */
  steadySeconds: number;
}

/** The phases of a steady load: at most five seconds cold and five of warm-up, then the steady state. */
export function steadyPlan(steadySeconds: number): SteadyPlan {
  return { coldSeconds: Math.min(5, steadySeconds), warmUpSeconds: Math.min(5, steadySeconds), steadySeconds };
}

/**
 * Triggers at a steady rate, then a burst, against an engine that is ready on these topics. The
 * steady load runs without a break through three phases: cold (the first seconds after ready),
 * a warm-up that is not counted, and the steady state; the first and the last are reported apart.
 */
export async function measureDecisions(
  kafka: Kafka,
  codec: SchemaCodec,
  triggerTopic: string,
  scheduledTopic: string,
  recipients: number,
  options: SteadyPlan & { triggersPerSecond: number; burstTriggers: number },
): Promise<{ cold: SteadyPhase; steady: SteadyPhase; burstRate: number; burstRateFromTrigger: number }> {
  const writer = await codec.writer('trigger', valueSubject(triggerTopic));
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${scheduledTopic}.bench.${Date.now()}`, maxWaitTimeInMs: 20 });
  await consumer.connect();
  const rate = options.triggersPerSecond;
  const coldCount = options.coldSeconds * rate;
  const steadyFrom = (options.coldSeconds + options.warmUpSeconds) * rate;
  const total = steadyFrom + options.steadySeconds * rate;
  // Per steady trigger (by its number): when its request started, and its latencies.
  const startedAt = new Float64Array(total);
  const produced = new Float64Array(total).fill(Number.NaN);
  const consumed = new Float64Array(total).fill(Number.NaN);
  const burstSentAt = new Map<string, number>();
  const burstStamps: number[] = [];
  let received = 0;
  await consumer.subscribe({ topic: scheduledTopic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const at = Date.now();
      for (const message of batch.messages) {
        const send = await codec.decode<ScheduledSend>('scheduled', message.value);
        received++;
        if (send.triggerId.startsWith('burst-')) {
          if (burstSentAt.has(send.triggerId)) burstStamps.push(Number(message.timestamp));
          continue;
        }
        const index = Number(send.triggerId.slice('steady-'.length));
        if (!(index >= 0 && index < total) || !Number.isNaN(produced[index]!)) continue;
        produced[index] = Number(message.timestamp) - startedAt[index]!;
        consumed[index] = at - startedAt[index]!;
      }
    },
  });
  const random = prng(7);
  try {
    // Steady: every 10 ms, one request with the triggers due by then. When a send takes longer
    // than a tick (a busy broker), the next request carries what fell due meanwhile, so the rate
    // holds; a request per tick whatever its size would send one tick's worth per round trip.
    const begin = performance.now();
    // A phase runs from when its first trigger fell due to when the request with its last one was sent.
    const phaseEnds = [coldCount, steadyFrom, total];
    const phaseEndedAt = [Number.NaN, Number.NaN, Number.NaN];
    let sent = 0;
    for (let tick = 1; sent < total; tick++) {
      const wait = begin + tick * 10 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      else tick = Math.ceil((performance.now() - begin) / 10);
      const dueCount = Math.min(total, Math.floor(((performance.now() - begin) * rate) / 1000));
      const batch: SendTrigger[] = [];
      const start = Date.now();
      for (; sent < dueCount; sent++) {
        startedAt[sent] = start;
        batch.push(trigger(`steady-${sent}`, `rcpt-${Math.floor(random() * recipients)}`, start));
      }
      if (batch.length === 0) continue;
      await producer.send({ topic: triggerTopic, messages: batch.map((item) => ({ key: item.recipientId, value: codec.encode(writer, item) })) });
      phaseEnds.forEach((end, index) => {
        if (sent >= end && Number.isNaN(phaseEndedAt[index]!)) phaseEndedAt[index] = performance.now();
      });
    }
    await waitFor(() => received >= total, 120_000);
    const phase = (from: number, to: number, endMs: number): SteadyPhase => {
      const startMs = begin + (from * 1000) / rate;
      const latencies = (values: Float64Array) => Array.from(values.subarray(from, to)).filter((value) => !Number.isNaN(value));
      return {
        producedP50: percentile(latencies(produced), 50),
        producedP99: percentile(latencies(produced), 99),
        consumedP99: percentile(latencies(consumed), 99),
        rate: (to - from) / ((endMs - startMs) / 1000),
        triggers: to - from,
      };
    };
    const cold = phase(0, coldCount, phaseEndedAt[0]!);
    const steady = phase(steadyFrom, total, phaseEndedAt[2]!);

    const burst = Array.from({ length: options.burstTriggers }, (_, i) => trigger(`burst-${i}`, `rcpt-${Math.floor(random() * recipients)}`, Date.now()));
    for (const item of burst) burstSentAt.set(item.triggerId, Date.now());
    const messages = burst.map((item) => ({ key: item.recipientId, value: codec.encode(writer, item) }));
    const burstProducedAt = Date.now();
    for (let at = 0; at < messages.length; at += 5_000) await producer.send({ topic: triggerTopic, messages: messages.slice(at, at + 5_000) });
    await waitFor(() => burstStamps.length >= options.burstTriggers, 600_000);
    const burstSeconds = (Math.max(...burstStamps) - Math.min(...burstStamps)) / 1000;
    // From the first scheduled send, a runner that holds a batch's outputs until its end looks
    // faster than one that sends them as they are decided: from the burst's production on, it does not.
    const burstFromTriggerSeconds = (Math.max(...burstStamps) - burstProducedAt) / 1000;
    return {
      cold,
      steady,
      burstRate: options.burstTriggers / Math.max(burstSeconds, 0.001),
      burstRateFromTrigger: options.burstTriggers / Math.max(burstFromTriggerSeconds, 0.001),
    };
  } finally {
    await producer.disconnect();
    await consumer.disconnect();
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`benchmark timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const recipientsArg = process.argv.find((arg) => arg.startsWith('--recipients='));
  const sections = await runEngineBenchmarks({ quick, ...(recipientsArg ? { recipients: Number(recipientsArg.split('=')[1]) } : {}) });
  for (const section of sections) process.stdout.write(`${formatSection(section)}\n`);
  process.exit(0);
}
