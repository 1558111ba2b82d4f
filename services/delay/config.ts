import { hostname } from 'node:os';
import { readCommonConfig, type CommonConfig } from '../shared/config/common-config.ts';
import { EnvReader, type Env } from '../shared/config/env-reader.ts';
import { CHANNELS, type Channel } from '../shared/contracts/record-types.ts';

export const RATE_CHANNELS: readonly Channel[] = CHANNELS;

export interface DelayConfig {
  common: CommonConfig;
  groupId: string;
  instanceId: string;
  /** Sends per second per channel; 0 = unlimited. */
  ratePerSecond: Readonly<Record<Channel, number>>;
  rateBurst: number;
  releaseBatch: number;
  cacheEntries: number;
  syncWrites: boolean;
  /**
   * Demo only: run the release clock faster than real time from the start of the process
   * (1 = real time). Production leaves it at 1.
   */
  clockSpeedup: number;
  /**
   * Longest a release waits for its partition to apply the engagement events appended before its
   * sends were due (the stop guarantee); past it the sends go and a metric counts it.
   */
  stopWaitMs: number;
  /**
   * A send due at T is released only once the engagement end offsets were fetched at or after
   * T plus this: a stop produced just before T whose produce request is still in flight (or
   * stamped by a clock slightly ahead) is covered. Release lateness grows by as much.
   */
  stopGraceMs: number;
}

export function compileDelayConfig(env: Env): Readonly<DelayConfig> {
  const reader = new EnvReader(env);
  const common = readCommonConfig(reader, 'delay', 9402);
  const ratePerSecond = {} as Record<Channel, number>;
  for (const channel of RATE_CHANNELS) ratePerSecond[channel] = reader.number(`STO_DELAY_RATE_${channel}`, 0, 0, 1_000_000);
  const config: DelayConfig = {
    common,
    groupId: reader.string('STO_DELAY_GROUP_ID', 'sto-delay'),
    instanceId: reader.string('STO_INSTANCE_ID', hostname()),
    ratePerSecond,
    rateBurst: reader.integer('STO_DELAY_RATE_BURST', 100, 1, 1_000_000),
    releaseBatch: reader.integer('STO_DELAY_RELEASE_BATCH', 1_000, 1, 100_000),
    cacheEntries: reader.integer('STO_DELAY_CACHE_ENTRIES', 10_000, 0, 10_000_000),
    syncWrites: reader.boolean('STO_STATE_SYNC_WRITES', false),
    clockSpeedup: reader.number('STO_DELAY_CLOCK_SPEEDUP', 1, 1, 1_000_000),
    stopWaitMs: reader.integer('STO_DELAY_STOP_WAIT_MS', 30_000, 0, 3_600_000),
    stopGraceMs: reader.integer('STO_DELAY_STOP_GRACE_MS', 100, 0, 60_000),
  };
  return reader.done(config);
}
