import { parseArgs } from 'node:util';
import { formatRegretTable, runRegretSimulation } from './regret.ts';

// npm run simulate [-- --recipients 2000 --weeks 12 --seed 1 --history-weeks 8 --exploration 0,0.05 --json]
// Runs the closed-loop regret measurement of services/simulator/regret.ts and prints a table
// (or, with --json, the whole report). Engine settings come from the STO_ENGINE_* variables.
// --workers runs each policy in its own worker thread: faster on idle cores, more CPU in total
// (each thread replays the history), so the default is one thread.

const USAGE = 'usage: npm run simulate -- [--recipients N] [--weeks N] [--seed S] [--history-weeks N] [--exploration 0,0.05] [--json] [--workers]';

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} ${value} is not a positive integer\n${USAGE}`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      recipients: { type: 'string' },
      weeks: { type: 'string' },
      seed: { type: 'string' },
      'history-weeks': { type: 'string' },
      exploration: { type: 'string' },
      json: { type: 'boolean', default: false },
      workers: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const explorationShares = (values.exploration ?? '0,0.05').split(',').map((text) => {
    const share = Number(text);
    if (!(text.trim() !== '' && Number.isFinite(share) && share >= 0 && share <= 1)) throw new Error(`--exploration ${text} is not a share in 0..1\n${USAGE}`);
    return share;
  });
  const report = await runRegretSimulation({
    recipients: positiveInteger('recipients', values.recipients, 2_000),
    weeks: positiveInteger('weeks', values.weeks, 12),
    historyWeeks: positiveInteger('history-weeks', values['history-weeks'], 8),
    seed: values.seed ?? '1',
    explorationShares,
    engineEnv: process.env,
    workers: values.workers,
    ...(values.json ? {} : { onProgress: (message: string) => console.error(`simulate: ${message}`) }),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatRegretTable(report));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
