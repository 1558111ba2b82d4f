import { readFileSync } from 'node:fs';
import type { Kafka as KafkaClient, KafkaConfig as KafkaJsConfig, Producer, ProducerConfig, SASLOptions } from 'kafkajs';
import { linearGroupingInstalled } from './kafkajs-grouping.ts';
import { Kafka, logLevel as KafkaLogLevel } from './kafkajs.ts';
import type { KafkaConfig } from '../config/common-config.ts';
import { ErrorCode, StoError, errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** Builds the kafkajs options: TLS with certificate checks on by default, SASL PLAIN/SCRAM. */
export function kafkaClientOptions(config: KafkaConfig, logger: Logger): KafkaJsConfig {
  let sasl: SASLOptions | undefined;
  if (config.saslMechanism !== 'none') {
    sasl = { mechanism: config.saslMechanism, username: config.saslUsername ?? '', password: config.saslPassword ?? '' } as SASLOptions;
  }
  const ssl = config.ssl
    ? {
        rejectUnauthorized: config.sslRejectUnauthorized,
        ...(config.sslCaFile ? { ca: [readFileSync(config.sslCaFile, 'utf8')] } : {}),
      }
    : false;
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return {
    clientId: config.clientId,
    brokers: config.brokers,
    ssl,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => ({ level, log }) => {
      const { message, ...extra } = log;
      // kafkajs logs routine rebalance responses at ERROR; they are warnings for an operator.
      const method = level <= KafkaLogLevel.WARN ? 'warn' : 'debug';
      kafkaLogger[method](extra, String(message));
    },
  };
}

/**
 * An idempotent producer retries a failed produce request until it succeeds, as kafkajs
 * recommends (and as Java's producer does within delivery.timeout.ms), unless the caller sets
 * its own retries. kafkajs gives the producer the client's retry settings (8 retries here) and
 * warns "Limiting retries for the idempotent producer may invalidate EoS guarantees" when they
 * are finite. It is right to: it rolls a partition's sequence number back when a send gives up
 * (sendMessages.js), so the next send reuses that sequence; if the abandoned request had in fact
 * been written, the broker takes a next request with the same sequence range as its duplicate
 * and drops it, even when its records are different ones (a later release pass). Unlimited
 * retries resend the same request instead; a broker that stays away stalls the loop, which
 * liveness and the shutdown grace deal with, rather than losing records.
 */
class StoKafka extends Kafka {
  override producer(config: ProducerConfig = {}): Producer {
    if (!config.idempotent || config.retry?.retries !== undefined) return super.producer(config);
    return super.producer({ ...config, retry: { ...config.retry, retries: Number.MAX_SAFE_INTEGER } });
  }
}

export function createKafka(config: KafkaConfig, logger: Logger): KafkaClient {
  if (!linearGroupingInstalled) logger.warn('kafkajs loaded before services/shared/kafka/kafkajs.ts: large produce requests group their messages in quadratic time');
  // kafkajs >= 2 already uses the Java-compatible murmur2 partitioner by default.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  return new StoKafka(kafkaClientOptions(config, logger));
}

/**
 * Fails fast with a message naming STO_KAFKA_BROKERS when no broker answers, instead of letting
 * kafkajs retry for minutes.
 */
export async function assertBrokerReachable(config: KafkaConfig, logger: Logger, deadlineMs = 15_000): Promise<void> {
  const probe = new Kafka({
    ...kafkaClientOptions(config, logger),
    logLevel: KafkaLogLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000 },
  });
  const admin = probe.admin();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      admin.connect().then(() => admin.describeCluster()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
      }),
    ]);
  } catch (error) {
    throw new StoError(
      ErrorCode.DEPENDENCY_UNREACHABLE,
      `STO_KAFKA_BROKERS=${config.brokers.join(',')}: cannot reach a Kafka broker (${errorMessage(error)})`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}
