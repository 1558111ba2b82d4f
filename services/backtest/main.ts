import { parseArgs } from 'node:util';
import { formatBacktest, runBacktest } from './run.ts';

const { values } = parseArgs({ options: { input: { type: 'string' }, json: { type: 'boolean', default: false } } });
if (!values.input) {
  process.stderr.write('usage: npm run backtest -- --input <file.csv[.gz]> [--json]\n');
  process.exit(2);
}

// Progress on stderr: a rewriting line on a terminal, a line every few seconds otherwise.
const spinner = ['|', '/', '-', '\\'];
let ticks = 0;
let last = 0;
const progress = (rows: number, pairs: number) => {
  const now = Date.now();
  if (now - last < (process.stderr.isTTY ? 200 : 5_000)) return;
  last = now;
  const text = `backtest ${spinner[ticks++ % spinner.length]} ${rows.toLocaleString('en-US')} rows read, ${pairs.toLocaleString('en-US')} (person, day) pairs scored`;
  process.stderr.write(process.stderr.isTTY ? `\r\x1b[2K${text}` : `${text}\n`);
};

try {
  const output = await runBacktest(values.input, progress);
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  process.stdout.write(values.json ? `${JSON.stringify(output)}\n` : formatBacktest(output));
} catch (error) {
  process.stderr.write(`backtest: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
