/**
 * The engine's ingest alone, sized and spread: `node bench/ingest-bench.ts --recipients=N
 * [--partitions=P] [--instances=1,2,3] [--cpu-prof=DIR]` on the local stack (infra/with-stack.sh).
 * Produces the sparse population's history once (bench/sparse-population.ts), then for
 * each instance count runs that many engine processes in one group over the same topic (a fresh
 * group and state each time) and reports the total rate from the first to the last record
 * applied, each process's resident memory (peak) and the state on disk per recipient.
 */
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildService } from '../services/demo/child-service.ts';
import { createSchemaRegistryClient, SchemaCodec } from '../services/shared/contracts/schema-codec.ts';
import { createKafka } from '../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../services/shared/logger.ts';
import type { EngagementEvent } from '../services/shared/contracts/record-types.ts';
import { valueSubject } from '../services/shared/contracts/schema-files.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../test/integration/support/stack.ts';
import { freePort } from './free-port.ts';
import { sparsePopulationBatches } from './sparse-population.ts';
import type { BenchSection } from './report.ts';

export interface IngestRun {
  instances: number;
  rate: number;
  seconds: number;
  /** Peak resident memory (VmHWM) of each engine process, bytes. */
  peakRss: number[];
  /** Resident memory (VmRSS) of each engine process right after the last record, bytes. */
  rss: number[];
  /** Every file under the state directories, bytes. */
  diskBytes: number;
  /** CPU time of the engine processes over the same span (sum). */
  cpuSeconds: number;
  /** State reads served by the write-back cache and reads that went to LevelDB (all processes). */
  cacheHits: number;
  cacheMisses: number;
  /** Time in garbage collection (prom-client's GC histogram, every kind), all processes. */
  gcSeconds: number;
  /** Compactions LevelDB wrote in its LOG files (memtable flushes and level compactions). */
  compactions: number;
  /** Every few seconds: seconds since the start, records applied, cache misses so far. */
  timeline: { seconds: number; applied: number; misses: number }[];
}

/** Compaction lines of every LevelDB LOG file under `path` (the store writes one as it works). */
async function leveldbCompactions(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) total += await leveldbCompactions(full);
    else if (entry.name === 'LOG' || entry.name === 'LOG.old') total += (readFileSync(full, 'utf8').match(/Compacted /g) ?? []).length;
  }
  return total;
}

async function directoryBytes(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    const full = join(path, entry.name);
    total += entry.isDirectory() ? await directoryBytes(full) : (await stat(full)).size;
  }
  return total;
}

function procStatus(pid: number | null, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === null) return Number.NaN;
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/**
 * How often the engine's write-back cache (`capacity` recipients, least recently used out first)
 * sends an event to LevelDB, fed the events in topic order: `firstReads` are recipients read for
 * the first time (absent from the store), `rereads` recipients read again after the cache evicted
 * them (a LevelDB read of a stored value). The engine's cache-miss metric does not count the
 * LevelDB reads of its batch prefetch, so the growth section counts them here, as it produces.
 */
export class CacheRereads {
  // Recency as a doubly linked list over recipient numbers (typed arrays, grown as needed): a Map
  // that deletes and re-inserts keys keeps their deleted slots, and taking its oldest key then
  // walks over them (a 1,000,000-recipient count took 19 minutes that way).
  readonly #numbers = new Map<string, number>();
  readonly #capacity: number;
  #newer = new Int32Array(1_024);
  #older = new Int32Array(1_024);
  #cached = new Uint8Array(1_024);
  #newest = -1;
  #oldest = -1;
  #size = 0;
  events = 0;
  firstReads = 0;
  rereads = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  #unlink(at: number): void {
    const newer = this.#newer[at]!;
    const older = this.#older[at]!;
    if (newer >= 0) this.#older[newer] = older;
    else this.#newest = older;
    if (older >= 0) this.#newer[older] = newer;
    else this.#oldest = newer;
  }

  #linkNewest(at: number): void {
    this.#older[at] = this.#newest;
    this.#newer[at] = -1;
    if (this.#newest >= 0) this.#newer[this.#newest] = at;
    this.#newest = at;
    if (this.#oldest < 0) this.#oldest = at;
  }

  read(recipientId: string): void {
    this.events++;
    let at = this.#numbers.get(recipientId);
    if (at === undefined) {
      at = this.#numbers.size;
      this.#numbers.set(recipientId, at);
      if (at === this.#cached.length) {
        const grow = <T extends Int32Array | Uint8Array>(old: T): T => {
          const next = new (old.constructor as new (length: number) => T)(old.length * 2);
          next.set(old);
          return next;
        };
        [this.#newer, this.#older, this.#cached] = [grow(this.#newer), grow(this.#older), grow(this.#cached)];
      }
      this.firstReads++;
    } else if (this.#cached[at] === 1) {
      this.#unlink(at);
      this.#linkNewest(at);
      return;
    } else this.rereads++;
    this.#cached[at] = 1;
    this.#linkNewest(at);
    if (++this.#size > this.#capacity) {
      const evicted = this.#oldest;
      this.#unlink(evicted);
      this.#cached[evicted] = 0;
      this.#size--;
    }
  }
}

/**
 * Produces the sparse population batch by batch, a few requests in flight (one connection to the
 * partition leader, so the broker appends them in the order they were sent): the topic holds the
 * same records as produceRecords would write, in a fraction of the time and memory.
 */
async function produceSparsePopulation(kafka: ReturnType<typeof createKafka>, codec: SchemaCodec, topic: string, recipients: number, now: number, cache: CacheRereads): Promise<number> {
  const writer = await codec.writer('engagement', valueSubject(topic));
  const producer = kafka.producer({ idempotent: false, maxInFlightRequests: 4 });
  await producer.connect();
  let events = 0;
  try {
    const inFlight: Promise<unknown>[] = [];
    for (const batch of sparsePopulationBatches(recipients, now)) {
      for (const event of batch) cache.read(event.recipientId);
      const messages = batch.map((event) => ({ key: event.recipientId, value: codec.encode(writer, event) }));
      events += messages.length;
      inFlight.push(producer.send({ topic, messages, acks: -1 }));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
  return events;
}

/** Produces the history of `recipients` to a new topic set with `partitions` partitions. */
export async function prepareIngestTopic(
  recipients: number,
  partitions: number,
  log: (message: string) => void,
): Promise<{ topics: ReturnType<typeof uniqueTopics>; events: number; partitions: number; cache: CacheRereads }> {
  const common = stackConfig();
  const kafka = createKafka(common.kafka, createLogger('bench-ingest', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const topics = uniqueTopics('bench-ingest');
  await createTestTopics(topics, partitions);
  log(`producing the history of ${recipients.toLocaleString('en-US')} recipients to ${partitions} partition(s)`);
  const started = performance.now();
  // The engine's default cache size (services/engine/config.ts STO_ENGINE_CACHE_ENTRIES).
  const cache = new CacheRereads(200_000);
  const events = await produceSparsePopulation(kafka, codec, topics.engagement, recipients, Date.now(), cache);
  log(`produced ${events.toLocaleString('en-US')} events in ${((performance.now() - started) / 1000).toFixed(1)} s; a 200,000-entry cache would reread ${cache.rereads.toLocaleString('en-US')} evicted recipients`);
  return { topics, events, partitions, cache };
}

/** `instances` engine processes in one new group ingest the whole topic; the total rate and each one's memory. */
export async function runIngest(options: {
  topics: ReturnType<typeof uniqueTopics>;
  events: number;
  partitions: number;
  instances: number;
  cpuProfileDir?: string;
  env?: Record<string, string>;
  /** The engine's entry file (another checkout's, to compare two versions on one topic). */
  entry?: string;
  log: (message: string) => void;
}): Promise<IngestRun> {
  const { events, instances, log } = options;
  // Every run gets topics of its own but the engagement topic (a shared changelog would be restored
  // by the next run's engines, which would then skip every record as already applied).
  const topics = { ...uniqueTopics('bench-ingest-run'), engagement: options.topics.engagement };
  await createTestTopics(topics, options.partitions);
  const group = `${topics.engagement}.ingest-${instances}-${Date.now()}`;
  const dirs = await Promise.all(Array.from({ length: instances }, (_, i) => temporaryDir(`bench-ingest-${i}`)));
  const ports: number[] = [];
  for (let i = 0; i < instances; i++) ports.push(await freePort());
  const engines = dirs.map(
    (dir, i) =>
      new ChildService({
        name: `engine-${i}`,
        entry: options.entry ?? ChildService.entry('engine'),
        env: {
          ...topicEnv(topics),
          STO_STATE_DIR: dir.path,
          STO_ENGINE_GROUP_ID: group,
          STO_INSTANCE_ID: `bench-${i}`,
          STO_LOG_LEVEL: 'warn',
          STO_ENGINE_LOOK_BACK_DAYS: '365',
          ...(options.cpuProfileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options.cpuProfileDir}` } : {}),
          ...options.env,
        },
        adminPort: ports[i]!,
        logPath: `${dir.path}.log`,
      }),
  );
  try {
    // Started together and polled from the start: a process that is ready first takes every
    // partition and starts at once, so the span includes the group's first rebalances.
    for (const engine of engines) engine.start();
    const applied = async () => {
      let total = 0;
      for (const engine of engines) total += (await engine.metric('sto_stream_records_total', { topic: topics.engagement, outcome: 'applied' })) || 0;
      return total;
    };
    const cpu = async () => {
      let total = 0;
      for (const engine of engines) total += await engine.metric('sto_process_cpu_seconds_total');
      return total; // NaN while a process does not answer yet
    };
    const total = async (name: string) => {
      let sum = 0;
      for (const engine of engines) sum += (await engine.metric(name)) || 0;
      return sum;
    };
    const timeline: IngestRun['timeline'] = [];
    let nextSample = 0;
    const deadline = Date.now() + 3_600_000;
    // From the last poll that saw nothing applied (at most one poll interval before the first record).
    let startValue = -1;
    let startAt = performance.now();
    let startCpu = 0;
    let value = 0;
    for (;;) {
      value = await applied();
      const at = performance.now();
      if (value === 0) {
        startAt = at;
        // Before every process answers, its start-up is counted too (a second at most, at start).
        const used = await cpu();
        if (Number.isFinite(used)) startCpu = used;
      } else if (startValue < 0) startValue = 0;
      if (value > 0 && at >= nextSample) {
        timeline.push({ seconds: (at - startAt) / 1000, applied: value, misses: await total('sto_state_cache_misses_total') });
        // A line a minute, so a long run (millions of events) shows how far it is.
        if (timeline.length % 12 === 0) log(`${value.toLocaleString('en-US')} of ${events.toLocaleString('en-US')} applied after ${Math.round((at - startAt) / 1000)} s`);
        nextSample = at + 5_000;
      }
      if (value >= events) {
        const seconds = (at - startAt) / 1000;
        const run: IngestRun = {
          instances,
          rate: (value - startValue) / seconds,
          seconds,
          peakRss: engines.map((engine) => procStatus(engine.pid, 'VmHWM')),
          rss: engines.map((engine) => procStatus(engine.pid, 'VmRSS')),
          diskBytes: 0,
          cpuSeconds: (await cpu()) - startCpu,
          cacheHits: await total('sto_state_cache_hits_total'),
          cacheMisses: await total('sto_state_cache_misses_total'),
          gcSeconds: await total('sto_nodejs_gc_duration_seconds_sum'),
          compactions: 0,
          timeline,
        };
        for (const engine of engines) await engine.stop(60_000);
        for (const dir of dirs) run.diskBytes += await directoryBytes(dir.path);
        for (const dir of dirs) run.compactions += await leveldbCompactions(dir.path);
        log(
          `${instances} instance(s): ${Math.round(run.rate)} events/s over ${seconds.toFixed(1)} s; peak RSS ${run.peakRss.map((bytes) => Math.round(bytes / 2 ** 20)).join(', ')} MiB; ` +
            `cache misses ${run.cacheMisses} of ${run.cacheHits + run.cacheMisses} reads; GC ${run.gcSeconds.toFixed(1)} s; ${run.compactions} LevelDB compactions; ` +
            `timeline ${JSON.stringify(run.timeline.map((point) => [Math.round(point.seconds), point.applied, point.misses]))}`,
        );
        return run;
      }
      if (Date.now() > deadline) throw new Error(`the engines applied ${value} of ${events} events in an hour`);
      const exited = engines.find((engine) => !engine.running);
      if (exited) throw new Error(`${exited.name} exited before the ingest ended (log: ${dirs[engines.indexOf(exited)]!.path}.log)`);
      // Each poll renders the engines' metrics (a few % of their CPU at 10 a second).
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    for (const engine of engines) await engine.stop(60_000);
    for (const dir of dirs) await dir.remove();
  }
}

const MiB = 2 ** 20;

/** 1, 2 and 3 engine processes in one group on a 6-partition topic: the total rate and what each process holds. */
export async function instancesSection(options: { recipients: number; counts?: number[]; log: (message: string) => void }): Promise<BenchSection> {
  const counts = options.counts ?? [1, 2, 3];
  const prepared = await prepareIngestTopic(options.recipients, 6, options.log);
  const runs: IngestRun[] = [];
  for (const instances of counts) runs.push(await runIngest({ ...prepared, instances, log: options.log }));
  const single = runs[0]!;
  return {
    title: 'Engine: ingest with 1, 2 and 3 processes on 6 partitions',
    method: `${prepared.events.toLocaleString('en-US')} engagement events of ${options.recipients.toLocaleString('en-US')} recipients on a 6-partition topic; for each count, that many engine processes are started together in one new group (fresh state) and ingest the whole topic; the total rate runs from the first to the last record committed by any of them (so it includes the group's first rebalances: the first process ready takes every partition until the others join). Each process is single-threaded; the machine has ${availableCores()} cores shared by the broker, the registry and the bench (and, here, other work: see the load average above).`,
    figures: runs.flatMap((run) => [
      {
        name: `${run.instances} process${run.instances > 1 ? 'es' : ''}: total ingest rate`,
        value: run.rate,
        unit: 'events/s',
        ...(run === single ? {} : { reference: { name: '1 process', value: single.rate, unit: 'events/s' } }),
      },
      { name: `${run.instances} process${run.instances > 1 ? 'es' : ''}: events per CPU-second (all processes)`, value: (run.rate * run.seconds) / run.cpuSeconds, unit: 'events/s' },
      { name: `${run.instances} process${run.instances > 1 ? 'es' : ''}: peak RSS per process (largest)`, value: Math.max(...run.peakRss) / MiB, unit: 'MiB' },
    ]),
  };
}

/** The same sparse population at growing sizes, one engine process: rate, memory and disk per recipient, and why the cost bends. */
export async function sizesSection(options: { sizes: number[]; log: (message: string) => void }): Promise<BenchSection> {
  const rows: { recipients: number; events: number; cache: CacheRereads; run: IngestRun }[] = [];
  for (const recipients of options.sizes) {
    const prepared = await prepareIngestTopic(recipients, 1, options.log);
    rows.push({ recipients, events: prepared.events, cache: prepared.cache, run: await runIngest({ ...prepared, instances: 1, log: options.log }) });
  }
  const first = rows[0]!;
  const perCpu = (run: IngestRun) => (run.rate * run.seconds) / run.cpuSeconds;
  const size = (recipients: number) => recipients.toLocaleString('en-US');
  return {
    title: 'Engine: how ingest cost grows with the population',
    method: `The sparse population (same events per recipient on average) at ${options.sizes.map(size).join(', ')} recipients, each produced to its own one-partition topic (in batches, a few produce requests in flight, before the engine starts) and ingested by one engine process with the default settings (STO_ENGINE_CACHE_ENTRIES=200,000 clean values cached). RSS is the process's peak (VmHWM); disk is the LevelDB folder as left (not compacted) per recipient. LevelDB rereads: the events whose recipient a 200,000-entry least-recently-used cache no longer held when its event came (counted over the same event order as the records are produced; the engine's cache-miss metric does not count its batch prefetch's LevelDB reads); GC: the engine's garbage-collection pauses (prom-client's histogram, wall clock, so on a busy machine they include waiting for a core) over its CPU time; compactions: those LevelDB logged. ${growthNote(rows.map(({ recipients, cache, run }) => ({ recipients, perCpu: perCpu(run), rereadShare: cache.rereads / cache.events, gcShare: run.gcSeconds / run.cpuSeconds })))}`,
    figures: rows.flatMap(({ recipients, events, cache, run }) => [
      {
        name: `${size(recipients)} recipients (${size(events)} events): ingest rate`,
        value: run.rate,
        unit: 'events/s',
        ...(recipients === first.recipients ? {} : { reference: { name: `${size(first.recipients)} recipients`, value: first.run.rate, unit: 'events/s' } }),
      },
      {
        name: `${size(recipients)} recipients: events per CPU-second`,
        value: perCpu(run),
        unit: 'events/s',
        ...(recipients === first.recipients ? {} : { reference: { name: `${size(first.recipients)} recipients`, value: perCpu(first.run), unit: 'events/s' } }),
      },
      { name: `${size(recipients)} recipients: peak RSS`, value: run.peakRss[0]! / MiB, unit: 'MiB' },
      { name: `${size(recipients)} recipients: peak RSS per recipient`, value: run.peakRss[0]! / recipients, unit: 'bytes' },
      { name: `${size(recipients)} recipients: disk per recipient`, value: run.diskBytes / recipients, unit: 'bytes' },
      { name: `${size(recipients)} recipients: events that reread an evicted recipient from LevelDB`, value: (100 * cache.rereads) / cache.events, unit: '%' },
      { name: `${size(recipients)} recipients: GC share of the engine's CPU`, value: (100 * run.gcSeconds) / run.cpuSeconds, unit: '%' },
      { name: `${size(recipients)} recipients: LevelDB compactions`, value: run.compactions, unit: 'compactions' },
    ]),
  };
}

/**
 * Where the events per CPU-second fall most between two sizes, beside the LevelDB rereads and the
 * GC share on each side: the section's reading of its own figures.
 */
export function growthNote(points: { recipients: number; perCpu: number; rereadShare: number; gcShare: number }[]): string {
  if (points.length < 2) return '';
  let bend = 1;
  for (let i = 2; i < points.length; i++) if (points[i]!.perCpu / points[i - 1]!.perCpu < points[bend]!.perCpu / points[bend - 1]!.perCpu) bend = i;
  const before = points[bend - 1]!;
  const after = points[bend]!;
  const percent = (value: number) => `${(100 * value).toFixed(0)}%`;
  const steps = points
    .slice(1)
    .map((point, i) => `${point.recipients.toLocaleString('en-US')}: ${(point.perCpu / points[i]!.perCpu).toFixed(2)}×`)
    .join(', ');
  return (
    `Reading: events per CPU-second against the size before (${steps}); the steepest fall is from ${before.recipients.toLocaleString('en-US')} to ${after.recipients.toLocaleString('en-US')} recipients, ` +
    `where the events that reread an evicted recipient from LevelDB go from ${percent(before.rereadShare)} to ${percent(after.rereadShare)} and the GC share of the CPU from ${percent(before.gcShare)} to ${percent(after.gcShare)}: ` +
    `below the cache's 200,000 entries every later event of a recipient finds it in memory; above, those events read LevelDB and decode the stored value again${after.gcShare > before.gcShare ? ', and the GC share grows with them' : ''} (the compactions above show the store's own extra work).`
  );
}

function availableCores(): number {
  return cpus().length;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string, fallback: string) => process.argv.find((value) => value.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  const log = (message: string) => process.stderr.write(`bench ingest: ${message}\n`);
  const recipients = Number(arg('recipients', '200000'));
  const partitions = Number(arg('partitions', '1'));
  const profileDir = arg('cpu-prof', '');
  // --entries=a.ts,b.ts: each engine entry in turn on the same topic (to compare two checkouts).
  const entries = arg('entries', '').split(',').filter((entry) => entry !== '');
  const prepared = await prepareIngestTopic(recipients, partitions, log);
  for (const instances of arg('instances', '1').split(',').map(Number)) {
    for (const entry of entries.length > 0 ? entries : [undefined]) {
      const run = await runIngest({ ...prepared, instances, log, ...(profileDir ? { cpuProfileDir: profileDir } : {}), ...(entry ? { entry } : {}) });
      process.stdout.write(`${JSON.stringify({ entry, recipients, partitions, events: prepared.events, ...run, bytesPerRecipient: run.diskBytes / recipients })}\n`);
    }
  }
  process.exit(0);
}
