/**
 * The engine's ingest alone, sized and spread: `node bench/ingest-bench.ts --recipients=N
 * [--partitions=P] [--instances=1,2,3] [--cpu-prof=DIR]` on the local stack (infra/with-stack.sh).
 * Produces the sparse population's history once (bench/engine-bench.ts sparsePopulation), then for
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
import { produceRecords } from '../test/integration/support/engine-fixture.ts';
import { createTestTopics, stackConfig, temporaryDir, topicEnv, uniqueTopics } from '../test/integration/support/stack.ts';
import { sparsePopulation } from './engine-bench.ts';
import { freePort } from './free-port.ts';
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

/** Produces the history of `recipients` to a new topic set with `partitions` partitions. */
export async function prepareIngestTopic(recipients: number, partitions: number, log: (message: string) => void): Promise<{ topics: ReturnType<typeof uniqueTopics>; events: number; partitions: number }> {
  const common = stackConfig();
  const kafka = createKafka(common.kafka, createLogger('bench-ingest', 'error'));
  const codec = new SchemaCodec(createSchemaRegistryClient(common.registry));
  const topics = uniqueTopics('bench-ingest');
  await createTestTopics(topics, partitions);
  log(`producing the history of ${recipients.toLocaleString('en-US')} recipients to ${partitions} partition(s)`);
  const events = sparsePopulation(recipients, Date.now());
  await produceRecords({ kafka, codec, topic: topics.engagement, contract: 'engagement', records: events, key: (event) => event.recipientId });
  return { topics, events: events.length, partitions };
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
        };
        for (const engine of engines) await engine.stop(60_000);
        for (const dir of dirs) run.diskBytes += await directoryBytes(dir.path);
        log(`${instances} instance(s): ${Math.round(run.rate)} events/s over ${seconds.toFixed(1)} s; peak RSS ${run.peakRss.map((bytes) => Math.round(bytes / 2 ** 20)).join(', ')} MiB`);
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

/** The same sparse population at growing sizes, one engine process: rate, memory and disk per recipient. */
export async function sizesSection(options: { sizes: number[]; log: (message: string) => void }): Promise<BenchSection> {
  const rows: { recipients: number; events: number; run: IngestRun }[] = [];
  for (const recipients of options.sizes) {
    const prepared = await prepareIngestTopic(recipients, 1, options.log);
    rows.push({ recipients, events: prepared.events, run: await runIngest({ ...prepared, instances: 1, log: options.log }) });
  }
  const first = rows[0]!;
  return {
    title: 'Engine: how ingest cost grows with the population',
    method: `The sparse population (same events per recipient on average) at ${options.sizes.map((size) => size.toLocaleString('en-US')).join(', ')} recipients, each produced to its own one-partition topic and ingested by one engine process with the default settings (STO_ENGINE_CACHE_ENTRIES=200,000 clean values cached). RSS is the process's peak (VmHWM); disk is the LevelDB folder as left (not compacted) per recipient.`,
    figures: rows.flatMap(({ recipients, events, run }) => [
      {
        name: `${recipients.toLocaleString('en-US')} recipients (${events.toLocaleString('en-US')} events): ingest rate`,
        value: run.rate,
        unit: 'events/s',
        ...(recipients === first.recipients ? {} : { reference: { name: `${first.recipients.toLocaleString('en-US')} recipients`, value: first.run.rate, unit: 'events/s' } }),
      },
      { name: `${recipients.toLocaleString('en-US')} recipients: events per CPU-second`, value: (run.rate * run.seconds) / run.cpuSeconds, unit: 'events/s' },
      { name: `${recipients.toLocaleString('en-US')} recipients: peak RSS`, value: run.peakRss[0]! / MiB, unit: 'MiB' },
      { name: `${recipients.toLocaleString('en-US')} recipients: disk per recipient`, value: run.diskBytes / recipients, unit: 'bytes' },
    ]),
  };
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
