import { EnvReader, type Env } from '../shared/config/env-reader.ts';
import { readCommonConfig, type CommonConfig } from '../shared/config/common-config.ts';

export interface BootstrapConfig {
  common: CommonConfig;
  partitions: number;
}

export function compileBootstrapConfig(env: Env): Readonly<BootstrapConfig> {
  const reader = new EnvReader(env);
  const common = readCommonConfig(reader, 'bootstrap', 0);
  const partitions = reader.integer('STO_PARTITIONS', 6, 1, 10_000);
  return reader.done({ common, partitions });
}
