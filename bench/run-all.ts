/**
 * `npm run bench [-- --quick]`: the backtest, the engine's and the delay service's benchmarks on
 * the local stack (infra/with-stack.sh starts it when it is not running), printed as they finish
 * and written to BENCHMARKS.md with the machine and the date. --quick runs smaller sizes; the
 * file says which sizes ran. --recipients=N sets the engine's population (1M by default, 50k quick).
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runBacktest } from '../services/backtest/run.ts';
import { runDecisionBenchmark } from './decision-bench.ts';
import { runDelayBenchmarks } from './delay-bench.ts';
import { runEngineBenchmarks } from './engine-bench.ts';
import { formatReport, formatSection, machineInfo, type BenchSection } from './report.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const quick = process.argv.includes('--quick');
const recipientsArg = process.argv.find((arg) => arg.startsWith('--recipients='));
const recipients = recipientsArg ? Number(recipientsArg.slice('--recipients='.length)) : undefined;
const dataset = fileURLToPath(new URL('../../shared/data/git-activity.csv.gz', import.meta.url));

function javaVersion(): string {
  // `java -version` writes to stderr.
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return `${result.stderr ?? ''}${result.stdout ?? ''}`.split('\n')[0]?.trim() || 'unknown';
}

async function backtestSection(): Promise<BenchSection> {
  const started = performance.now();
  const output = await runBacktest(dataset);
  const seconds = (performance.now() - started) / 1000;
  const sto = output.policies.sto!;
  const reference = (name: string) => ({ name, value: output.policies[name]!.hit2h, unit: 'hit@2h' });
  return {
    title: 'Model: daily-trigger backtest (BACKTEST.md)',
    method: `${output.dataset}: ${output.pairs.toLocaleString('en-US')} (person, day) pairs of ${output.persons} persons, every policy on the same pairs in one streaming pass (${seconds.toFixed(1)} s).`,
    figures: [
      { name: 'sto hit@2h', value: sto.hit2h, unit: '', reference: reference('person_mode'), aim: '0.22 or more', met: sto.hit2h >= 0.22 },
      { name: 'sto hit@2h', value: sto.hit2h, unit: '', reference: reference('global_hour') },
      { name: 'sto hit@2h', value: sto.hit2h, unit: '', reference: reference('random') },
      { name: 'sto hit@1h', value: sto.hit1h, unit: '', reference: { name: 'person_mode', value: output.policies.person_mode!.hit1h, unit: 'hit@1h' } },
      { name: 'sto hit@4h', value: sto.hit4h, unit: '', reference: { name: 'person_mode', value: output.policies.person_mode!.hit4h, unit: 'hit@4h' } },
      { name: 'sto warm hit@2h', value: sto.warm_hit2h, unit: '', reference: { name: 'person_mode', value: output.policies.person_mode!.warm_hit2h, unit: 'warm hit@2h' } },
    ],
  };
}

const sections: BenchSection[] = [];
const show = (section: BenchSection) => {
  sections.push(section);
  process.stdout.write(`${formatSection(section)}\n`);
};

show(await backtestSection());
show(runDecisionBenchmark({ quick }));
for (const section of await runEngineBenchmarks({ quick, ...(recipients ? { recipients } : {}) })) show(section);
for (const section of await runDelayBenchmarks({ quick })) show(section);

const report = formatReport(sections, machineInfo(), new Date(), [
  `mode: ${quick ? '--quick (smaller sizes; each section says which)' : 'full'}`,
  `broker: Apache Kafka 3.9.1 (KRaft, one node) and Apicurio Registry 3.3.3 on 127.0.0.1, started by infra/stack.sh on the same machine`,
  `java: ${javaVersion()}`,
]);
await writeFile(`${ROOT}BENCHMARKS.md`, report);
process.stdout.write('wrote BENCHMARKS.md\n');
process.exit(0);
