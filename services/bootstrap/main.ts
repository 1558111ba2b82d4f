import { exitOnStartupFailure } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { bootstrap } from './bootstrap.ts';
import { compileBootstrapConfig } from './config.ts';

try {
  const config = compileBootstrapConfig(process.env);
  const logger = createLogger('bootstrap', config.common.logLevel);
  const { created, schemaIds } = await bootstrap(config, logger);
  logger.info({ created, schemaIds, partitions: config.partitions }, 'topics and schemas are in place');
} catch (error) {
  exitOnStartupFailure('bootstrap', error);
}
