import { describe, expect, it } from 'vitest';
import { readCommonConfig } from '../../../services/shared/config/common-config.ts';
import { EnvReader } from '../../../services/shared/config/env-reader.ts';
import { ConfigError } from '../../../services/shared/errors.ts';
import { kafkaClientOptions } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';

function compile(env: Record<string, string>) {
  const reader = new EnvReader(env);
  return reader.done(readCommonConfig(reader, 'test', 9400));
}

describe('runtime', () => {
  it('runs on the pinned Node 24', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(24);
  });
});

describe('common configuration', () => {
  it('has working defaults and is frozen', () => {
    const config = compile({});
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.registry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(config.topics.engagement).toBe('sto.engagement.events.v1');
    expect(Object.isFrozen(config.kafka)).toBe(true);
  });

  it('names every bad variable, its value and what is allowed', () => {
    const attempt = () => compile({ STO_KAFKA_BROKERS: 'not a broker', STO_ADMIN_PORT: '70000', STO_LOG_LEVEL: 'loud' });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('STO_KAFKA_BROKERS="not a broker"');
      expect(message).toContain('host:port');
      expect(message).toContain('STO_ADMIN_PORT="70000"');
      expect(message).toContain('[0, 65535]');
      expect(message).toContain('STO_LOG_LEVEL="loud"');
      expect((error as ConfigError).variable).toBe('STO_KAFKA_BROKERS');
    }
  });

  it('refuses SASL without credentials and a bad registry URL', () => {
    expect(() => compile({ STO_KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toThrow(/STO_KAFKA_SASL_USERNAME/);
    expect(() => compile({ STO_SCHEMA_REGISTRY_URL: 'ftp://registry' })).toThrow(/STO_SCHEMA_REGISTRY_URL/);
  });

  it('keeps TLS certificate checks on unless explicitly disabled', () => {
    const logger = createLogger('test', 'silent');
    const tls = kafkaClientOptions(compile({ STO_KAFKA_SSL: 'true' }).kafka, logger);
    expect(tls.ssl).toEqual({ rejectUnauthorized: true });
    const sasl = kafkaClientOptions(
      compile({ STO_KAFKA_SSL: 'true', STO_KAFKA_SASL_MECHANISM: 'scram-sha-512', STO_KAFKA_SASL_USERNAME: 'u', STO_KAFKA_SASL_PASSWORD: 'p' }).kafka,
      logger,
    );
    expect(sasl.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: 'p' });
  });
});
