import type { CommonConfig } from '../config/common-config.ts';
import { tunedLevelFactory } from './partition-store.ts';

/** What every stateful service's configuration gives its runner. */
export interface RunnerServiceConfig {
  groupId: string;
  instanceId: string;
  cacheEntries: number;
  syncWrites: boolean;
  common: Pick<CommonConfig, 'stateDir' | 'store' | 'kafka' | 'livenessStallMs'>;
}

/** The runner options that come straight from a service's configuration, the same for each service. */
export function serviceRunnerOptions(config: Readonly<RunnerServiceConfig>) {
  return {
    groupId: config.groupId,
    instanceId: config.instanceId,
    stateDir: config.common.stateDir,
    levelFactory: tunedLevelFactory(config.common.store),
    cacheEntries: config.cacheEntries,
    syncWrites: config.syncWrites,
    sessionTimeoutMs: config.common.kafka.sessionTimeoutMs,
    livenessStallMs: config.common.livenessStallMs,
  };
}
