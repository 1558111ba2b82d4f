import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap } from '../../../services/bootstrap/bootstrap.ts';
import { readCommonConfig, suffixedTopics, topicEnvironment, type CommonConfig, type TopicsConfig } from '../../../services/shared/config/common-config.ts';
import { EnvReader } from '../../../services/shared/config/env-reader.ts';
import { createLogger } from '../../../services/shared/logger.ts';

/** The stack's connection settings (from the environment that infra/with-stack.sh exports). */
export function stackConfig(overrides: Record<string, string> = {}): CommonConfig {
  const reader = new EnvReader({ ...process.env, ...overrides });
  return reader.done(readCommonConfig(reader, 'test', 0)) as CommonConfig;
}

/** Topic names unique to one test, so tests never see each other's records. */
export function uniqueTopics(label: string): TopicsConfig {
  return suffixedTopics(`${label}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`);
}

/** Environment variables that point a service at `topics`. */
export const topicEnv = topicEnvironment;

/** Creates `topics` and registers the schemas, as the bootstrap step does. */
export async function createTestTopics(topics: TopicsConfig, partitions: number): Promise<void> {
  const common = { ...stackConfig(), topics };
  await bootstrap({ common, partitions }, createLogger('test-bootstrap', 'warn'));
}

export async function temporaryDir(label: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `sto-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

