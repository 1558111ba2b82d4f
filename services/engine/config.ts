import { hostname } from 'node:os';
import { readCommonConfig, type CommonConfig } from '../shared/config/common-config.ts';
import { EnvReader, type Env } from '../shared/config/env-reader.ts';
import { readMachineOpenRule, type MachineOpenRule } from '../shared/engagement/machine-open.ts';

const DAY_MS = 86_400_000;

export interface EngineConfig extends MachineOpenRule {
  common: CommonConfig;
  groupId: string;
  instanceId: string;
  /** Half-life of the exponential decay of the counters. */
  halfLifeDays: number;
  /** Events older than this (relative to the record's timestamp) are counted, not applied. */
  lookBackMs: number;
  /** Events further ahead than this (relative to the record's timestamp) are counted, not applied. */
  maxFutureMs: number;
  /** Duplicate event ids inside this window are ignored. */
  dedupWindowMs: number;
  dedupMaxIds: number;
  defaultTimeZone: string;
  explorationShare: number;
  holdoutShare: number;
  /** Minimum active days (days with a human engagement) before the model is trusted for a recipient. */
  minHistoryEvents: number;
  cacheEntries: number;
  syncWrites: boolean;
  /** How long after an erasure the recipient's older events and triggers are still recognised and ignored. */
  erasureMarkerMs: number;
  /** A send not released by its window's end plus this grace expires (unless the trigger sets expiresAt). */
  expiryGraceMs: number;
  /** A cohort or population prior is used only when it pools at least this many distinct recipients (k-anonymity). */
  priorMinRecipients: number;
  /** A changed aggregate's partial is published to the priors topic at most this often (per partition). */
  priorsPublishMs: number;
}

export function compileEngineConfig(env: Env): Readonly<EngineConfig> {
  const reader = new EnvReader(env);
  const common = readCommonConfig(reader, 'engine', 9401);
  const machineOpen = readMachineOpenRule(reader);
  const config: EngineConfig = {
    common,
    groupId: reader.string('STO_ENGINE_GROUP_ID', 'sto-engine'),
    instanceId: reader.string('STO_INSTANCE_ID', hostname()),
    halfLifeDays: reader.number('STO_ENGINE_HALF_LIFE_DAYS', 365, 1, 3_650),
    lookBackMs: reader.integer('STO_ENGINE_LOOK_BACK_DAYS', 730, 1, 3_650) * DAY_MS,
    maxFutureMs: reader.integer('STO_ENGINE_MAX_FUTURE_MINUTES', 60, 0, 10_080) * 60_000,
    dedupWindowMs: reader.integer('STO_ENGINE_DEDUP_WINDOW_HOURS', 48, 0, 24 * 90) * 3_600_000,
    dedupMaxIds: reader.integer('STO_ENGINE_DEDUP_MAX_IDS', 64, 0, 4_096),
    ...machineOpen,
    defaultTimeZone: reader.string('STO_DEFAULT_TIME_ZONE', 'UTC'),
    explorationShare: reader.number('STO_EXPLORATION_SHARE', 0.05, 0, 1),
    holdoutShare: reader.number('STO_HOLDOUT_SHARE', 0.05, 0, 1),
    minHistoryEvents: reader.number('STO_ENGINE_MIN_ACTIVE_DAYS', 3, 0, 10_000),
    cacheEntries: reader.integer('STO_ENGINE_CACHE_ENTRIES', 200_000, 0, 50_000_000),
    syncWrites: reader.boolean('STO_STATE_SYNC_WRITES', false),
    erasureMarkerMs: reader.integer('STO_ENGINE_ERASURE_MARKER_DAYS', 35, 1, 3_650) * DAY_MS,
    expiryGraceMs: reader.integer('STO_ENGINE_EXPIRY_GRACE_MINUTES', 720, 0, 30 * 24 * 60) * 60_000,
    priorMinRecipients: reader.integer('STO_ENGINE_PRIOR_MIN_RECIPIENTS', 20, 1, 1_000_000),
    priorsPublishMs: reader.number('STO_ENGINE_PRIORS_PUBLISH_SECONDS', 60, 0.1, 86_400) * 1_000,
  };
  return reader.done(config);
}
