/**
 * Tuning harness for the send-time model. Reads an activity log ONCE into memory, then runs the
 * daily-trigger backtest (docs/backtest.md) for each candidate parameter set, tallying hits separately
 * on two halves of the persons (A, B: a stable hash of the person id). Parameters are chosen on A
 * and reported on B; aggregates (cohort, global) still learn from everyone, as in production.
 *
 *   node bench/tune-model.ts --input data/git-activity.csv.gz [--baselines]
 *        [--base '{"individualStrength":8}'] [--grid recent,prior,...] [--list]
 *
 * Every candidate is the defaults (or --base on top of them) with a few fields changed. Prints
 * one row per candidate: hit@2h on A, on B and on the whole file, the deltas against the first
 * row (the previous defaults), hit@1h, hit@4h and warm hit@2h on the whole file, and seconds.
 * A run of the sto policy takes 3 to 10 s on git-activity.csv.gz; one process, one core.
 */
import { parseArgs } from 'node:util';
import { daysOf } from '../services/backtest/activity-log.ts';
import { evaluate, type ActivityRow, type BacktestResult, type BacktestPolicy } from '../services/backtest/evaluate.ts';
import { globalHourPolicy, personModePolicy, randomPolicy, stoPolicy } from '../services/backtest/policies.ts';
import { stableUnitInterval } from '../services/model/hash.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../services/model/score.ts';

type Candidate = { label: string; params: Partial<ModelParams> };

/**
 * The parameter values before this tuning (model v1) run through the current code: no
 * recent-activity term, evidence counted in undecayed active days, individual strength 4. Not
 * the v1 model itself (v1 shrank the hour of week toward the hour of day over the whole week
 * rather than per weekday, and the backtest policy let a late slot's window run into the next
 * day); v1 measured 0.188 (A) / 0.198 (B) / 0.194 (all) hit@2h with the same split.
 */
const PREVIOUS_DEFAULTS: Partial<ModelParams> = {
  halfLifeDays: 365,
  activeDayDecay: 1,
  allEngagementWeight: 0,
  individualStrength: 4,
  dayTypeStrength: 1e9,
  hourOfDayStrength: 4,
  cohortStrength: 20,
  smoothing: [0.5, 0.25],
  evidenceFromActiveDays: true,
  recentActivityWeight: 0,
};

const kernels: Record<string, readonly number[]> = {
  none: [1],
  'k.2': [1, 0.2],
  'k.35': [1, 0.35],
  'k.5': [1, 0.5],
  'k.7': [1, 0.7],
  'k.5,.15': [1, 0.5, 0.15],
  'k.6,.3,.1': [1, 0.6, 0.3, 0.1],
};

const cross = <T,>(label: (x: T) => string, params: (x: T) => Partial<ModelParams>, xs: T[]): Candidate[] => xs.map((x) => ({ label: label(x), params: params(x) }));

/** Named grids; each is a list of candidates evaluated after the base row. */
const GRIDS: Record<string, () => Candidate[]> = {
  base: () => [],
  decay: () => cross((d) => `activeDayDecay=${d}`, (d) => ({ activeDayDecay: d }), [1, 0.995, 0.99, 0.985, 0.98]),
  recent2: () => {
    const out: Candidate[] = [];
    for (const recentActivityWeight of [0.25, 0.5, 0.75]) {
      for (const recentActivityHalfLifeHours of [1, 2, 3]) out.push({ label: `recent w=${recentActivityWeight} hl=${recentActivityHalfLifeHours}h`, params: { recentActivityWeight, recentActivityHalfLifeHours } });
    }
    return out;
  },
  halfLife: () => cross((h) => `halfLifeDays=${h}`, (h) => ({ halfLifeDays: h }), [90, 180, 365, 730, 3650]),
  evidence: () => cross((e) => `evidenceFromActiveDays=${e}`, (e) => ({ evidenceFromActiveDays: e }), [true, false]),
  kernel: () => cross(([name]) => `smoothing=${name}`, ([, smoothing]) => ({ smoothing }), Object.entries(kernels)),
  hier: () => {
    const out: Candidate[] = [];
    for (const individualStrength of [3, 6, 12, 1e9]) {
      for (const dayTypeStrength of [3, 6, 12, 1e9]) {
        for (const hourOfDayStrength of [4]) out.push({ label: `ind=${individualStrength} type=${dayTypeStrength} hod=${hourOfDayStrength}`, params: { individualStrength, dayTypeStrength, hourOfDayStrength } });
      }
    }
    return out;
  },
  prior: () => [
    ...cross((h) => `hourOfDayStrength=${h}`, (h) => ({ hourOfDayStrength: h }), [0.3, 1, 2, 4, 10]),
    ...cross((c) => `cohortStrength=${c}`, (c) => ({ cohortStrength: c }), [2, 5, 20, 100]),
    ...cross((c) => `dayShareStrength=${c}`, (c) => ({ dayShareStrength: c }), [1, 7, 30]),
  ],
  recent: () => {
    const out: Candidate[] = [];
    for (const recentActivityWeight of [0.25, 0.5, 1, 1.5, 2.5]) {
      for (const recentActivityHalfLifeHours of [0.5, 1, 2, 3]) out.push({ label: `recent w=${recentActivityWeight} hl=${recentActivityHalfLifeHours}h`, params: { recentActivityWeight, recentActivityHalfLifeHours } });
    }
    return out;
  },
  allEngagement: () => cross((w) => `allEngagementWeight=${w}`, (w) => ({ allEngagementWeight: w }), [0.05, 0.1, 0.25, 0.5]),
  hier2: () => {
    const out: Candidate[] = [];
    for (const [individualStrength, dayTypeStrength] of [[12, 1e9], [20, 1e9], [12, 24], [20, 20]] as const) {
      for (const name of ['k.5', 'k.7', 'k.5,.15']) out.push({ label: `ind=${individualStrength} type=${dayTypeStrength} ${name}`, params: { individualStrength, dayTypeStrength, smoothing: kernels[name]! } });
    }
    return out;
  },
  final: () => [
    ...cross((h) => `halfLifeDays=${h}`, (h) => ({ halfLifeDays: h }), [250, 500]),
    ...cross((i) => `individualStrength=${i}`, (i) => ({ individualStrength: i }), [8, 16]),
    ...cross((t) => `dayTypeStrength=${t}`, (t) => ({ dayTypeStrength: t }), [12, 24]),
  ],
  window: () => cross((w) => `arrivalWindowHours=${w}`, (w) => ({ arrivalWindowHours: w }), [1, 2, 3]),
};

const { values } = parseArgs({
  options: {
    input: { type: 'string' },
    grid: { type: 'string', default: 'base' },
    base: { type: 'string' },
    baselines: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});
if (values.list) {
  process.stdout.write(`${Object.keys(GRIDS).join('\n')}\n`);
  process.exit(0);
}
if (!values.input) {
  process.stderr.write('usage: node bench/tune-model.ts --input <file.csv[.gz]> [--grid a,b] [--base JSON] [--baselines]\n');
  process.exit(2);
}

const started = Date.now();
const days: ActivityRow[][] = [];
for await (const day of daysOf(values.input)) days.push(day);
process.stderr.write(`tune: ${days.length} local days read in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

const half = new Map<string, string>();
const groupOf = (person: string): string => {
  let name = half.get(person);
  if (!name) {
    name = stableUnitInterval(['tune-split', person]) < 0.5 ? 'A' : 'B';
    half.set(person, name);
  }
  return name;
};

/** A base overriding the defaults (JSON of ModelParams fields); every candidate applies on top. */
const base: ModelParams = { ...DEFAULT_MODEL_PARAMS, ...(values.base ? (JSON.parse(values.base) as Partial<ModelParams>) : {}) };

function run(policies: BacktestPolicy[]): BacktestResult {
  return evaluate(days, policies, undefined, groupOf);
}

const fmt = (x: number) => x.toFixed(4);
const header = '| candidate                                  | A hit2h | B hit2h | all hit2h | dA      | dB      | hit1h  | hit4h  | warm2h | s  |';
process.stdout.write(`${header}\n|${'-'.repeat(header.length - 2)}|\n`);
let reference: { a: number; b: number } | null = null;
function row(label: string, result: BacktestResult, name: string, seconds: number): void {
  const a = result.groups!['A']!.policies[name]!.hit2h;
  const b = result.groups!['B']!.policies[name]!.hit2h;
  const all = result.policies[name]!;
  reference ??= { a, b };
  const sign = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
  process.stdout.write(
    `| ${label.padEnd(42).slice(0, 42)} | ${fmt(a)}  | ${fmt(b)}  | ${fmt(all.hit2h)}    | ${sign(a - reference.a)} | ${sign(b - reference.b)} | ${fmt(all.hit1h)} | ${fmt(all.hit4h)} | ${fmt(all.warm_hit2h)} | ${seconds.toFixed(0).padStart(2)} |\n`,
  );
}

if (values.baselines) {
  const t = Date.now();
  const result = run([randomPolicy(), globalHourPolicy(), personModePolicy()]);
  const seconds = (Date.now() - t) / 1000;
  for (const name of ['random', 'global_hour', 'person_mode']) row(`[${name}]`, result, name, seconds);
  reference = null;
  process.stdout.write(`  (pairs: all ${result.pairs}, A ${result.groups!['A']!.pairs}, B ${result.groups!['B']!.pairs}; persons A ${result.groups!['A']!.persons}, B ${result.groups!['B']!.persons})\n`);
}

const candidates: Candidate[] = [{ label: 'v1 parameters, current code', params: PREVIOUS_DEFAULTS }, { label: values.base ? 'base' : 'defaults', params: {} }];
for (const name of values.grid.split(',')) {
  const grid = GRIDS[name];
  if (!grid) throw new Error(`unknown grid ${name}; --list shows them`);
  candidates.push(...grid());
}
for (const candidate of candidates) {
  const t = Date.now();
  const result = run([stoPolicy({ ...base, ...candidate.params })]);
  row(candidate.label, result, 'sto', (Date.now() - t) / 1000);
}
process.stderr.write(`tune: done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
