import { hostname } from 'node:os';
import { readCommonConfig, type CommonConfig } from '../shared/config/common-config.ts';
import { EnvReader, type Env } from '../shared/config/env-reader.ts';
import { readMachineOpenRule, type MachineOpenRule } from '../shared/engagement/machine-open.ts';
import type { ReportOptions } from './campaign-report.ts';
import type { WindowRule } from './send-ledger.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface OutcomesConfig extends MachineOpenRule, WindowRule, ReportOptions {
  common: CommonConfig;
  groupId: string;
  instanceId: string;
  /** Sends closed per punctuation pass at most (consumption runs between passes). */
  closeBatch: number;
  /** A closed send's schedule id is remembered this long, so its late or replayed records are recognised and ignored. */
  closedRetentionMs: number;
  cacheEntries: number;
  syncWrites: boolean;
  /** Demo only: windows close on a clock running this many times faster from the start of the process (1 = real time). */
  clockSpeedup: number;
}

export function compileOutcomesConfig(env: Env): Readonly<OutcomesConfig> {
  const reader = new EnvReader(env);
  const common = readCommonConfig(reader, 'outcomes', 9403);
  const config: OutcomesConfig = {
    common,
    ...readMachineOpenRule(reader),
    groupId: reader.string('STO_OUTCOMES_GROUP_ID', 'sto-outcomes'),
    instanceId: reader.string('STO_INSTANCE_ID', hostname()),
    // Fractions of an hour are allowed (tests and demos close windows in seconds).
    windowMs: Math.round(reader.number('STO_OUTCOMES_CONVERSION_WINDOW_HOURS', 120, 0.0005, 24 * 90) * HOUR_MS),
    graceMs: Math.round(reader.number('STO_OUTCOMES_LATE_GRACE_MINUTES', 60, 0, 7 * 24 * 60) * 60_000),
    deliveryWaitMs: Math.round(reader.number('STO_OUTCOMES_DELIVERY_WAIT_HOURS', 24, 0, 24 * 30) * HOUR_MS),
    sequentialTunedSends: reader.integer('STO_OUTCOMES_SEQUENTIAL_TUNED_SENDS', 10_000, 10, 1_000_000_000),
    minExplorationSends: reader.integer('STO_OUTCOMES_MIN_EXPLORATION_SENDS', 100, 1, 1_000_000_000),
    closeBatch: reader.integer('STO_OUTCOMES_CLOSE_BATCH', 1_000, 1, 100_000),
    closedRetentionMs: reader.integer('STO_OUTCOMES_CLOSED_RETENTION_DAYS', 30, 1, 3_650) * DAY_MS,
    cacheEntries: reader.integer('STO_OUTCOMES_CACHE_ENTRIES', 100_000, 0, 50_000_000),
    syncWrites: reader.boolean('STO_STATE_SYNC_WRITES', false),
    clockSpeedup: reader.number('STO_OUTCOMES_CLOCK_SPEEDUP', 1, 1, 1_000_000),
  };
  return reader.done(config);
}
