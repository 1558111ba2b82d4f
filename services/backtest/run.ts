import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { daysOf } from './activity-log.ts';
import { evaluateStream, type BacktestResult } from './evaluate.ts';
import { globalHourPolicy, personModePolicy, randomPolicy, stoPolicy } from './policies.ts';

export type BacktestOutput = { dataset: string } & BacktestResult;

/**
 * The daily-trigger backtest (docs/backtest.md) on one activity log, streaming: the baselines and `sto` in the
 * same pass over the same (person, day) pairs.
 */
export async function runBacktest(input: string, onProgress?: (rows: number, pairs: number) => void): Promise<BacktestOutput> {
  await stat(input);
  let rows = 0;
  let pairs = 0;
  const result = await evaluateStream(
    daysOf(input, (count) => {
      rows = count;
      onProgress?.(rows, pairs);
    }),
    [randomPolicy(), globalHourPolicy(), personModePolicy(), stoPolicy()],
    (count) => {
      pairs = count;
      onProgress?.(rows, pairs);
    },
  );
  return { dataset: basename(input), ...result };
}

export function formatBacktest(output: BacktestOutput): string {
  const rows = Object.entries(output.policies).map(([name, score]) => `| ${name.padEnd(11)} | ${score.hit1h.toFixed(3)} | ${score.hit2h.toFixed(3)} | ${score.hit4h.toFixed(3)} | ${score.warm_hit2h.toFixed(3)} |`);
  return [
    `dataset ${output.dataset}: ${output.pairs} pairs (${output.warm_pairs} warm), ${output.persons} persons`,
    '| policy      | hit@1h | hit@2h | hit@4h | warm hit@2h |',
    '|-------------|--------|--------|--------|-------------|',
    ...rows,
    '',
  ].join('\n');
}
