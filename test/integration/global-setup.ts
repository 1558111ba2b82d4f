import { assertRegistryReachable } from '../../services/shared/contracts/schema-codec.ts';
import { assertBrokerReachable } from '../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../services/shared/logger.ts';
import { stackConfig } from './support/stack.ts';

/**
 * Integration tests run against the real broker and registry that `infra/with-stack.sh` started.
 * Fail at once with a clear message when they are not there, instead of timing out test by test.
 */
export default async function setup(): Promise<void> {
  const common = stackConfig();
  const logger = createLogger('integration-setup', 'warn');
  await assertBrokerReachable(common.kafka, logger, 20_000);
  await assertRegistryReachable(common.registry);
}
