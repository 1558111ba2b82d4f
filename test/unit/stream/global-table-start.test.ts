import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ErrorCode, StoError } from '../../../services/shared/errors.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { GlobalTable } from '../../../services/shared/stream/global-table.ts';

/** A client whose admin cannot read the topic's offsets (as when the topic was never created). */
function unreadableKafka(): Kafka {
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    fetchTopicOffsets: async () => {
      throw new Error('This server does not host this topic-partition');
    },
  };
  return { admin: () => admin } as unknown as Kafka;
}

describe('GlobalTable.start', () => {
  it('rejects a topic it cannot read with DEPENDENCY_UNREACHABLE naming the topic, its variable and the bootstrap step', async () => {
    const table = new GlobalTable<string>({
      name: 'campaign-settings',
      topic: 'sto.campaigns.settings.v1',
      topicVariable: 'STO_TOPIC_CAMPAIGN_SETTINGS',
      kafka: unreadableKafka(),
      logger: createLogger('global-table-start', 'error'),
      registry: new Registry(),
      decode: (_key, value) => value.toString('utf8'),
    });
    const error = await table.start(1_000).then(
      () => null,
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(StoError);
    expect((error as StoError).code).toBe(ErrorCode.DEPENDENCY_UNREACHABLE);
    expect((error as StoError).retriable).toBe(false);
    expect((error as Error).message).toContain('sto.campaigns.settings.v1 (STO_TOPIC_CAMPAIGN_SETTINGS)');
    expect((error as Error).message).toContain('does not host this topic-partition');
    expect((error as Error).message).toContain('npm run bootstrap');
  });
});
