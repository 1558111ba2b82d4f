/**
 * `npm run bench [-- --quick | --smoke]`: the backtest, the engine's, the delay service's and the outcomes stage's benchmarks on
 * the local stack (infra/with-stack.sh starts it when it is not running), printed as they finish
 * and written to BENCHMARKS.md with the machine and the date. --quick runs smaller sizes; --smoke
 * the smallest, only to prove that every section runs (CI does it on a fresh clone); the file says
 * which sizes ran. --recipients=N sets the engine's population (1M by default, 50k quick, 5k smoke);
 * --ingest-sizes=N,M,... the populations of the ingest growth section (--no-ingest-sizes skips it).
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runBacktest } from '../services/backtest/run.ts';
import { runDecisionBenchmark } from './decision-bench.ts';
import { runDelayBenchmarks, type BenchSize } from './delay-bench.ts';
import { runEngineBenchmarks } from './engine-bench.ts';
import { runOutcomesBenchmark } from './outcomes-bench.ts';
import { instancesSection, sizesSection } from './ingest-bench.ts';
import { formatReport, formatSection, machineInfo, type BenchSection } from './report.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const size: BenchSize = process.argv.includes('--smoke') ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full';
const quick = size !== 'full';
const recipientsArg = process.argv.find((arg) => arg.startsWith('--recipients='));
const recipients = recipientsArg ? Number(recipientsArg.slice('--recipients='.length)) : undefined;
// --ingest-sizes=100000,1000000: the populations of the ingest growth section (the issue's three by
// default in a full run; 5M takes the longest part of it).
const sizesArg = process.argv.find((arg) => arg.startsWith('--ingest-sizes='));
const ingestSizes = sizesArg
  ? sizesArg.slice('--ingest-sizes='.length).split(',').map(Number)
  : size === 'smoke'
    ? [2_000, 5_000]
    : quick
      ? [20_000, 50_000, 100_000]
      : [100_000, 1_000_000, 5_000_000];
// The real activity logs kept in the repository (data/README.md says where they come from).
const DATASETS = ['git-activity.csv.gz', 'rails-activity.csv.gz'].map((name) => `${ROOT}data/${name}`);

function javaVersion(): string {
  // `java -version` writes to stderr.
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return `${result.stderr ?? ''}${result.stdout ?? ''}`.split('\n')[0]?.trim() || 'unknown';
}

/** The daily-trigger backtest (docs/backtest.md) on one log; the aim is issue 10's ratio to person_mode. */
async function backtestSection(dataset: string): Promise<BenchSection> {
  const started = performance.now();
  const output = await runBacktest(dataset);
  const seconds = (performance.now() - started) / 1000;
  const sto = output.policies.sto!;
  const baseline = (name: string, key: 'hit1h' | 'hit2h' | 'hit4h' | 'warm_hit2h', unit: string) => ({ name, value: output.policies[name]![key], unit });
  const ratio = sto.hit2h / output.policies.person_mode!.hit2h;
  return {
    title: `Model: daily-trigger backtest on ${output.dataset} (docs/backtest.md)`,
    method: `${output.dataset}: ${output.pairs.toLocaleString('en-US')} (person, day) pairs of ${output.persons} persons, every policy on the same pairs in one streaming pass (${seconds.toFixed(1)} s).`,
    figures: [
      { name: 'sto hit@2h', value: sto.hit2h, unit: '', reference: baseline('person_mode', 'hit2h', 'hit@2h') },
      { name: 'sto hit@2h / person_mode hit@2h', value: ratio, unit: '', aim: '1.35 or more', met: ratio >= 1.35 },
      { name: 'sto hit@2h', value: sto.hit2h, unit: '', reference: baseline('global_hour', 'hit2h', 'hit@2h') },
      { name: 'sto hit@2h', value: sto.hit2h, unit: '', reference: baseline('random', 'hit2h', 'hit@2h') },
      { name: 'sto hit@1h', value: sto.hit1h, unit: '', reference: baseline('person_mode', 'hit1h', 'hit@1h') },
      { name: 'sto hit@4h', value: sto.hit4h, unit: '', reference: baseline('person_mode', 'hit4h', 'hit@4h') },
      { name: 'sto warm hit@2h', value: sto.warm_hit2h, unit: '', reference: baseline('person_mode', 'warm_hit2h', 'warm hit@2h') },
    ],
  };
}

// The machine may be shared: its load beside the figures says how far absolute rates can be trusted
// (ratios measured in the same run much more).
const loadText = () => loadavg().map((value) => value.toFixed(2)).join(', ');
const loadAtStart = loadText();
const sections: BenchSection[] = [];
const show = (section: BenchSection) => {
  sections.push(section);
  process.stdout.write(`${formatSection(section)}\n`);
};

for (const dataset of DATASETS) show(await backtestSection(dataset));
show(runDecisionBenchmark({ quick }));
const engineSmoke = size === 'smoke' ? { recipients: 5_000, steadySeconds: 3, burstTriggers: 1_000 } : {};
for (const section of await runEngineBenchmarks({ quick, ...engineSmoke, ...(recipients ? { recipients } : {}) })) show(section);
const ingestLog = (message: string) => process.stderr.write(`bench ingest: ${message}\n`);
show(await instancesSection({ recipients: size === 'smoke' ? 5_000 : quick ? 200_000 : 500_000, log: ingestLog }));
if (!process.argv.includes('--no-ingest-sizes')) show(await sizesSection({ sizes: ingestSizes, log: ingestLog }));
for (const section of await runDelayBenchmarks({ size })) show(section);
show(await runOutcomesBenchmark({ size }));

const report = formatReport(sections, machineInfo(), new Date(), [
  `mode: ${size === 'full' ? 'full' : `--${size} (smaller sizes; each section says which)`}`,
  `broker: Apache Kafka 3.9.1 (KRaft, one node) and Apicurio Registry 3.3.3 on 127.0.0.1, started by infra/stack.sh on the same machine`,
  `java: ${javaVersion()}`,
  `load average (1, 5, 15 min): ${loadAtStart} at the start, ${loadText()} at the end`,
]);
await writeFile(`${ROOT}BENCHMARKS.md`, report);
process.stdout.write('wrote BENCHMARKS.md\n');
process.exit(0);
