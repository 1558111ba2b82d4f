import type { EnvReader } from './env-reader.ts';
import { splitUrlCredentials } from './redact-url.ts';

export const SASL_MECHANISMS = ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sslCaFile: string | null;
  /** Certificate checks are on unless explicitly turned off. */
  sslRejectUnauthorized: boolean;
  saslMechanism: SaslMechanism;
  saslUsername: string | null;
  saslPassword: string | null;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  /** Consumer group session timeout: how long a crashed member blocks its partitions (and a restarted instance). */
  sessionTimeoutMs: number;
  /** SASL without TLS was explicitly allowed (STO_KAFKA_ALLOW_PLAINTEXT_SASL). */
  allowPlaintextSasl: boolean;
}

export interface StoreTuning {
  blockCacheBytes: number;
  writeBufferBytes: number;
}

const MIB = 1024 * 1024;

export interface RegistryConfig {
  /** Never carries credentials: those in STO_SCHEMA_REGISTRY_URL move to username and password. */
  url: string;
  username: string | null;
  password: string | null;
  timeoutMs: number;
  /** How long a 404 for a schema id is asked again before the id counts as unknown. */
  unknownIdGraceMs: number;
}

export interface TopicsConfig {
  engagement: string;
  triggers: string;
  erasure: string;
  scheduled: string;
  ready: string;
  engineChangelog: string;
  delayChangelog: string;
  unreleased: string;
  /** The engine's partial priors (aggregates per partition), read whole by every engine instance. */
  priors: string;
  /** The campaigns' settings keyed by campaignId, read whole by every engine instance. */
  campaignSettings: string;
  /** Operators' campaign stops (compacted), read whole by every delay instance. */
  campaignStops: string;
  /** One record per send when its conversion window closes (compacted, keyed by schedule id). */
  outcomes: string;
  outcomesChangelog: string;
  /** The outcomes stage's per-partition partial campaign aggregates, read whole by the report (a global table). */
  campaignAggregates: string;
}

export interface CommonConfig {
  kafka: KafkaConfig;
  registry: RegistryConfig;
  topics: TopicsConfig;
  adminPort: number;
  adminHost: string;
  /** With a token, the admin server's API routes require `Authorization: Bearer <token>`. */
  adminToken: string | null;
  /** The admin address other instances forward queries to (default: http://<host>:<port>). */
  adminAdvertisedUrl: string | null;
  /** The API may be served without a token on a non-loopback address (STO_ADMIN_ALLOW_UNAUTHENTICATED). */
  adminAllowUnauthenticated: boolean;
  logLevel: LogLevel;
  stateDir: string;
  /** LevelDB memory per partition store: block cache and write buffer (memtable), in bytes. */
  store: StoreTuning;
  /** Records larger than this go to the dead-letter topic (OVERSIZE). */
  maxRecordBytes: number;
  /** No consumer-loop progress (or restores, punctuations failing) for this long makes /livez fail. */
  livenessStallMs: number;
}

export const DEFAULT_TOPICS: Readonly<TopicsConfig> = Object.freeze({
  engagement: 'sto.engagement.events.v1',
  triggers: 'sto.triggers.v1',
  erasure: 'sto.erasure.requests.v1',
  scheduled: 'sto.sends.scheduled.v1',
  ready: 'sto.sends.ready.v1',
  engineChangelog: 'sto.engine.profiles.changelog.v1',
  delayChangelog: 'sto.delay.pending.changelog.v1',
  unreleased: 'sto.sends.unreleased.v1',
  priors: 'sto.engine.priors.v1',
  campaignSettings: 'sto.campaigns.settings.v1',
  campaignStops: 'sto.campaigns.stops.v1',
  outcomes: 'sto.sends.outcomes.v1',
  outcomesChangelog: 'sto.outcomes.sends.changelog.v1',
  campaignAggregates: 'sto.outcomes.campaigns.v1',
});

/** Environment variable of each topic name. */
export const TOPIC_VARIABLES: Readonly<Record<keyof TopicsConfig, string>> = Object.freeze({
  engagement: 'STO_TOPIC_ENGAGEMENT',
  triggers: 'STO_TOPIC_TRIGGERS',
  erasure: 'STO_TOPIC_ERASURE',
  scheduled: 'STO_TOPIC_SCHEDULED',
  ready: 'STO_TOPIC_READY',
  engineChangelog: 'STO_TOPIC_ENGINE_CHANGELOG',
  delayChangelog: 'STO_TOPIC_DELAY_CHANGELOG',
  unreleased: 'STO_TOPIC_UNRELEASED',
  priors: 'STO_TOPIC_PRIORS',
  campaignSettings: 'STO_TOPIC_CAMPAIGN_SETTINGS',
  campaignStops: 'STO_TOPIC_CAMPAIGN_STOPS',
  outcomes: 'STO_TOPIC_OUTCOMES',
  outcomesChangelog: 'STO_TOPIC_OUTCOMES_CHANGELOG',
  campaignAggregates: 'STO_TOPIC_CAMPAIGN_AGGREGATES',
});

/** Every topic name with a suffix: a separate set for one test, benchmark or demo run. */
export function suffixedTopics(suffix: string): TopicsConfig {
  const topics = {} as TopicsConfig;
  for (const key of Object.keys(DEFAULT_TOPICS) as (keyof TopicsConfig)[]) topics[key] = `${DEFAULT_TOPICS[key]}.${suffix}`;
  return topics;
}

/** The environment variables that point a service at `topics`. */
export function topicEnvironment(topics: TopicsConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of Object.keys(topics) as (keyof TopicsConfig)[]) env[TOPIC_VARIABLES[key]] = topics[key];
  return env;
}

export function deadLetterTopic(sourceTopic: string): string {
  return `${sourceTopic}.dlq`;
}

/** The settings every service shares; each service's config adds its own. */
export function readCommonConfig(env: EnvReader, service: string, defaultAdminPort: number): CommonConfig {
  const saslMechanism = env.oneOf('STO_KAFKA_SASL_MECHANISM', 'none', SASL_MECHANISMS);
  const saslUsername = env.optionalString('STO_KAFKA_SASL_USERNAME');
  const saslPassword = env.optionalString('STO_KAFKA_SASL_PASSWORD');
  if (saslMechanism !== 'none' && (!saslUsername || !saslPassword)) {
    env.problem('STO_KAFKA_SASL_USERNAME', `and STO_KAFKA_SASL_PASSWORD are required when STO_KAFKA_SASL_MECHANISM=${saslMechanism}`);
  }
  const topics = {} as TopicsConfig;
  for (const key of Object.keys(DEFAULT_TOPICS) as (keyof TopicsConfig)[]) {
    const name = env.string(TOPIC_VARIABLES[key], DEFAULT_TOPICS[key]);
    if (!/^[a-zA-Z0-9._-]{1,200}$/.test(name)) env.problem(TOPIC_VARIABLES[key], `"${name}" is not a valid Kafka topic name`);
    topics[key] = name;
  }
  const ssl = env.boolean('STO_KAFKA_SSL', false);
  const allowPlaintextSasl = env.boolean('STO_KAFKA_ALLOW_PLAINTEXT_SASL', false);
  if (saslMechanism !== 'none' && !ssl && !allowPlaintextSasl) {
    env.problem(
      'STO_KAFKA_SASL_MECHANISM',
      `${saslMechanism} without TLS would send the credentials (and every record) unencrypted: set STO_KAFKA_SSL=true, or STO_KAFKA_ALLOW_PLAINTEXT_SASL=true on a network you trust`,
    );
  }
  const registry = readRegistryConfig(env);
  return {
    kafka: {
      brokers: env.hostPorts('STO_KAFKA_BROKERS', '127.0.0.1:9092'),
      clientId: env.string('STO_KAFKA_CLIENT_ID', `sto-${service}`),
      ssl,
      sslCaFile: env.optionalString('STO_KAFKA_SSL_CA_FILE'),
      sslRejectUnauthorized: env.boolean('STO_KAFKA_SSL_REJECT_UNAUTHORIZED', true),
      saslMechanism,
      saslUsername,
      saslPassword,
      connectionTimeoutMs: env.integer('STO_KAFKA_CONNECTION_TIMEOUT_MS', 3_000, 100, 120_000),
      requestTimeoutMs: env.integer('STO_KAFKA_REQUEST_TIMEOUT_MS', 30_000, 1_000, 300_000),
      // The broker refuses session timeouts below group.min.session.timeout.ms (6 s by default).
      sessionTimeoutMs: env.integer('STO_KAFKA_SESSION_TIMEOUT_MS', 10_000, 6_000, 300_000),
      allowPlaintextSasl,
    },
    registry,
    topics,
    adminPort: env.integer('STO_ADMIN_PORT', defaultAdminPort, 0, 65_535),
    adminHost: env.string('STO_ADMIN_HOST', '127.0.0.1'),
    adminToken: readAdminToken(env),
    adminAdvertisedUrl: readAdvertisedUrl(env),
    adminAllowUnauthenticated: env.boolean('STO_ADMIN_ALLOW_UNAUTHENTICATED', false),
    logLevel: env.oneOf('STO_LOG_LEVEL', 'info', LOG_LEVELS),
    stateDir: env.string('STO_STATE_DIR', `.state/${service}`),
    store: {
      blockCacheBytes: env.integer('STO_STATE_BLOCK_CACHE_MB', 8, 1, 65_536) * MIB,
      writeBufferBytes: env.integer('STO_STATE_WRITE_BUFFER_MB', 4, 1, 4_096) * MIB,
    },
    maxRecordBytes: env.integer('STO_MAX_RECORD_BYTES', 1_000_000, 1_024, 100_000_000),
    livenessStallMs: env.integer('STO_LIVENESS_STALL_MS', 120_000, 10_000, 3_600_000),
  };
}

/** Shorter tokens are guessable; whitespace or control characters cannot travel in a header intact. */
const MIN_TOKEN_LENGTH = 16;

function readAdminToken(env: EnvReader): string | null {
  const token = env.optionalString('STO_ADMIN_TOKEN');
  if (token === null) return null;
  // The value itself is never echoed: it is a secret.
  if (token.length < MIN_TOKEN_LENGTH) env.problem('STO_ADMIN_TOKEN', `must have at least ${MIN_TOKEN_LENGTH} characters (it has ${token.length}); generate one with: openssl rand -hex 32`);
  else if (!/^[\x21-\x7e]+$/.test(token)) env.problem('STO_ADMIN_TOKEN', 'may hold only visible ASCII characters (no spaces or control characters)');
  return token;
}

function readAdvertisedUrl(env: EnvReader): string | null {
  const value = env.optionalString('STO_ADMIN_ADVERTISED_URL');
  if (value === null) return null;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.username) {
    env.problem('STO_ADMIN_ADVERTISED_URL', `"${value}" is not an http(s) URL of a host and port without path or credentials, such as http://engine-1:9401`);
    return null;
  }
  return url.origin;
}

/** Whether the admin server listens on loopback only (then an unauthenticated API is reachable from this machine only). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Why the admin API may not start as configured: bound beyond loopback without a token, unless
 * STO_ADMIN_ALLOW_UNAUTHENTICATED=true says the network is trusted. Null when it may.
 */
export function adminExposureProblem(config: Pick<CommonConfig, 'adminHost' | 'adminToken' | 'adminAllowUnauthenticated'>): string | null {
  if (config.adminToken !== null || config.adminAllowUnauthenticated || isLoopbackHost(config.adminHost)) return null;
  return `STO_ADMIN_HOST=${config.adminHost} would serve the query API (recipients' profiles) beyond this machine without a token: set STO_ADMIN_TOKEN, bind to 127.0.0.1, or set STO_ADMIN_ALLOW_UNAUTHENTICATED=true on a network you trust`;
}

/**
 * The registry settings. Credentials embedded in STO_SCHEMA_REGISTRY_URL are taken out of it, so
 * that no error, log line or metric that shows the URL shows them; basic auth over http:// is
 * refused unless STO_SCHEMA_REGISTRY_ALLOW_PLAINTEXT_AUTH=true.
 */
function readRegistryConfig(env: EnvReader): RegistryConfig {
  const raw = env.url('STO_SCHEMA_REGISTRY_URL', 'http://127.0.0.1:8081/apis/ccompat/v7');
  const { url, username: urlUsername, password: urlPassword } = splitUrlCredentials(raw);
  let username = env.optionalString('STO_SCHEMA_REGISTRY_USERNAME');
  let password = env.optionalString('STO_SCHEMA_REGISTRY_PASSWORD');
  if (urlUsername !== null || urlPassword !== null) {
    if (username !== null || password !== null) {
      env.problem('STO_SCHEMA_REGISTRY_URL', 'carries credentials and so do STO_SCHEMA_REGISTRY_USERNAME/PASSWORD: give them once');
    }
    username = urlUsername;
    password = urlPassword;
  }
  const allowPlaintextAuth = env.boolean('STO_SCHEMA_REGISTRY_ALLOW_PLAINTEXT_AUTH', false);
  if (username !== null && new URL(url).protocol === 'http:' && !allowPlaintextAuth) {
    env.problem(
      'STO_SCHEMA_REGISTRY_URL',
      `${url} is http:// and basic auth would send the password unencrypted: use https://, or set STO_SCHEMA_REGISTRY_ALLOW_PLAINTEXT_AUTH=true on a network you trust`,
    );
  }
  return {
    url,
    username,
    password,
    timeoutMs: env.integer('STO_SCHEMA_REGISTRY_TIMEOUT_MS', 5_000, 100, 120_000),
    unknownIdGraceMs: env.integer('STO_SCHEMA_REGISTRY_UNKNOWN_ID_GRACE_MS', 10_000, 0, 600_000),
  };
}
