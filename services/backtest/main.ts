import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { daysOf } from './activity-log.ts';
import { evaluate, type ActivityRow } from './evaluate.ts';
import { globalHourPolicy, personModePolicy, randomPolicy, stoPolicy } from './policies.ts';

const { values } = parseArgs({ options: { input: { type: 'string' }, json: { type: 'boolean', default: false } } });
if (!values.input) {
  process.stderr.write('usage: npm run backtest -- --input <file.csv[.gz]> [--json]\n');
  process.exit(2);
}
const input = values.input;

// Materialize days lazily from the async generator for the synchronous evaluator, one at a time.
const days: ActivityRow[][] = [];
let lastReport = Date.now();
const progress = (what: string) => {
  if (Date.now() - lastReport < 2_000) return;
  lastReport = Date.now();
  process.stderr.write(`backtest: ${what}\n`);
};
for await (const day of daysOf(input, (rows) => progress(`${rows} rows read`))) days.push(day);
const result = evaluate(days, [randomPolicy(), globalHourPolicy(), personModePolicy(), stoPolicy()], (pairs) => progress(`${pairs} pairs evaluated`));
const output = { dataset: basename(input), ...result };

if (values.json) {
  process.stdout.write(`${JSON.stringify(output)}\n`);
} else {
  const rows = Object.entries(result.policies).map(([name, score]) => `| ${name.padEnd(11)} | ${score.hit1h.toFixed(3)} | ${score.hit2h.toFixed(3)} | ${score.hit4h.toFixed(3)} | ${score.warm_hit2h.toFixed(3)} |`);
  process.stdout.write(
    [
      `dataset ${output.dataset}: ${result.pairs} pairs (${result.warm_pairs} warm), ${result.persons} persons`,
      '| policy      | hit@1h | hit@2h | hit@4h | warm hit@2h |',
      '|-------------|--------|--------|--------|-------------|',
      ...rows,
      '',
    ].join('\n'),
  );
}
