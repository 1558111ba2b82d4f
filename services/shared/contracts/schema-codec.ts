import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { RegistryConfig } from '../config/common-config.ts';
import { ErrorCode, InputError, StoError, errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { CONTRACTS, readSchemaJson, readerType, type ContractName } from './schema-files.ts';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;
/** See SchemaCodecOptions.unknownIdGraceMs. */
export const DEFAULT_UNKNOWN_ID_GRACE_MS = 10_000;

export interface Writer {
  readonly contract: ContractName;
  readonly schemaId: number;
  readonly type: avro.Type;
}

/** Retries after the first attempt of each registry request (a 5xx, a 429, a timeout or a network error). */
export const REGISTRY_RETRIES = 5;

export function createSchemaRegistryClient(config: RegistryConfig): SchemaRegistry {
  return new SchemaRegistry({
    host: config.url,
    clientId: 'sto',
    ...(config.username ? { auth: { username: config.username, password: config.password ?? '' } } : {}),
    // A request the registry never answers must not hang a service (or a restore) forever: each
    // request times out after STO_SCHEMA_REGISTRY_TIMEOUT_MS and is retried like a 5xx, with
    // exponential backoff (0.1 s doubling to 2 s), REGISTRY_RETRIES times.
    retry: {
      retries: REGISTRY_RETRIES,
      initialRetryTimeInSecs: 0.1,
      maxRetryTimeInSecs: 2,
      validateRetry: retriable,
      // mappersmith retries GETs only. Every request this client sends is safe to repeat: lookups
      // (POST /subjects/{s}) and compatibility checks only read, registering content that a lost
      // answer already registered returns the same id, and the config PUT sets the same value.
      enableRetry: () => true,
    },
    middlewares: [requestTimeout(config.timeoutMs)],
  });
}

/**
 * Turns a registry client failure into an error that says what was asked, of whom and how long
 * it was tried (the client's own message for a stall is "Error, status 400: Timeout (5000ms)").
 */
export function registryFailure(what: string, config: RegistryConfig, error: unknown): StoError {
  const status = (error as { status?: number } | null)?.status;
  const timedOut = /Timeout \(\d+ms\)/.test(errorMessage(error));
  // The client reports a request without an HTTP answer (timed out, refused, reset) as status 400.
  const noAnswer = timedOut || status === undefined || status === 400;
  const attempts = `${REGISTRY_RETRIES + 1} attempts`;
  const detail = timedOut
    ? `no answer within ${config.timeoutMs} ms (STO_SCHEMA_REGISTRY_TIMEOUT_MS) in ${attempts}`
    : noAnswer
      ? `no HTTP answer in ${attempts}: ${errorMessage(error)}`
      : status >= 500 || status === 429
        ? `HTTP ${status} in ${attempts}: ${errorMessage(error)}`
        : errorMessage(error);
  return new StoError(ErrorCode.REGISTRY_UNAVAILABLE, `${what}: schema registry ${config.url}: ${detail}`, {
    retriable: noAnswer || status >= 500 || status === 429,
    cause: error,
  });
}

// The registry client's own mappersmith types (mappersmith is its dependency, not ours).
type ClientArgs = ConstructorParameters<typeof SchemaRegistry>[0];
type Middleware = NonNullable<ClientArgs['middlewares']>[number];
type Response = Parameters<NonNullable<NonNullable<ClientArgs['retry']>['validateRetry']>>[0];

function requestTimeout(timeoutMs: number): Middleware {
  return () => ({
    async prepareRequest(next) {
      return (await next()).enhance({ timeout: timeoutMs });
    },
  });
}

function retriable(response: Response): boolean {
  const status = response.status();
  return status >= 500 || status === 429 || response.errors.some((error) => typeof error === 'object' && error?.name === 'TimeoutError');
}

export interface SchemaCodecOptions {
  /**
   * How long a schema id the registry answers 404 for is asked again before records with it are
   * dead-lettered as UNKNOWN_SCHEMA_ID (a registry failing over, or a replica behind the primary,
   * answers 404 for ids that exist). An id found unknown stays unknown for as long again, so a
   * run of records with a bad id does not wait that long for each record.
   */
  unknownIdGraceMs?: number;
  /** Names the registry and the timeout in errors (see registryFailure). */
  config?: RegistryConfig;
  sleep?: (ms: number) => Promise<void>;
  clock?: () => number;
}

/** The codec of a service: its registry client, with the configured timeout and unknown-id grace. */
export function createSchemaCodec(config: RegistryConfig): SchemaCodec {
  return new SchemaCodec(createSchemaRegistryClient(config), { config, unknownIdGraceMs: config.unknownIdGraceMs });
}

type Resolved = { reader: avro.Type; resolver: avro.Resolver };

/**
 * Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body) over a
 * Confluent-compatible registry. Records are read with the project's reader schema through an
 * avsc resolver built once per writer schema id, so older writers stay readable (BACKWARD).
 * Resolvers are cached for the life of the process (an id's schema never changes), so records of
 * known ids decode while the registry is down; records of a new id wait for it (a retriable error).
 */
export class SchemaCodec {
  readonly #registry: SchemaRegistry;
  readonly #readers = new Map<ContractName, avro.Type>();
  readonly #resolvers = new Map<string, Resolved>();
  readonly #resolving = new Map<string, Promise<Resolved>>();
  /** Schema id -> until when it counts as unknown without asking the registry again. */
  readonly #unknownUntil = new Map<number, number>();
  readonly #unknownIdGraceMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #clock: () => number;
  readonly #config: RegistryConfig | undefined;

  constructor(registry: SchemaRegistry, options: SchemaCodecOptions = {}) {
    this.#registry = registry;
    this.#config = options.config;
    this.#unknownIdGraceMs = options.unknownIdGraceMs ?? DEFAULT_UNKNOWN_ID_GRACE_MS;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#clock = options.clock ?? Date.now;
  }

  #reader(contract: ContractName): avro.Type {
    let type = this.#readers.get(contract);
    if (!type) {
      type = readerType(contract);
      this.#readers.set(contract, type);
    }
    return type;
  }

  /** Looks up the id under which our schema is registered for the subject (bootstrap registers it). */
  async writer(contract: ContractName, subject: string): Promise<Writer> {
    try {
      const schemaId = await this.#registry.getRegistryIdBySchema(subject, {
        type: SchemaType.AVRO,
        schema: JSON.stringify(readSchemaJson(contract)),
      });
      return { contract, schemaId, type: this.#reader(contract) };
    } catch (error) {
      const status = (error as { status?: number } | null)?.status;
      if (status === 404 || !this.#config) {
        throw new StoError(
          ErrorCode.REGISTRY_UNAVAILABLE,
          `schema of ${contract} is not registered under subject ${subject} (run the bootstrap step): ${errorMessage(error)}`,
          { cause: error },
        );
      }
      throw registryFailure(`looking up the schema id of ${contract} under subject ${subject}`, this.#config, error);
    }
  }

  encode<T>(writer: Writer, value: T): Buffer {
    const invalid: string[] = [];
    if (!writer.type.isValid(value, { errorHook: (path) => invalid.push(path.join('.')) })) {
      throw new InputError(ErrorCode.INVALID_FIELD, `invalid ${writer.contract} record: bad field(s) ${invalid.join(', ')}`);
    }
    const body = writer.type.toBuffer(value);
    const framed = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    framed.writeUInt8(MAGIC_BYTE, 0);
    framed.writeInt32BE(writer.schemaId, 1);
    body.copy(framed, HEADER_BYTES);
    return framed;
  }

  /** Decodes a framed record into the reader shape of `contract`, or throws an InputError for the DLQ. */
  async decode<T>(contract: ContractName, bytes: Buffer | null): Promise<T> {
    if (!bytes || bytes.length < HEADER_BYTES) {
      throw new InputError(ErrorCode.UNDECODABLE, `record of ${bytes?.length ?? 0} bytes is too short for the Confluent wire format`);
    }
    if (bytes.readUInt8(0) !== MAGIC_BYTE) {
      throw new InputError(ErrorCode.UNDECODABLE, `unknown magic byte ${bytes.readUInt8(0)} (expected 0)`);
    }
    const schemaId = bytes.readInt32BE(1);
    const key = `${contract}:${schemaId}`;
    let entry = this.#resolvers.get(key);
    if (!entry) {
      // One registry lookup per new id, however many records of it arrive while it is in flight.
      let pending = this.#resolving.get(key);
      if (!pending) {
        pending = this.#resolve(contract, schemaId).finally(() => this.#resolving.delete(key));
        this.#resolving.set(key, pending);
      }
      entry = await pending;
      this.#resolvers.set(key, entry);
    }
    try {
      return entry.reader.fromBuffer(bytes.subarray(HEADER_BYTES), entry.resolver, false) as T;
    } catch (error) {
      throw new InputError(ErrorCode.UNDECODABLE, `Avro body does not decode with schema id ${schemaId}: ${errorMessage(error)}`, error);
    }
  }

  /** The registry's schema for an id; a 404 is asked again with backoff for unknownIdGraceMs. */
  async #fetchSchema(schemaId: number): Promise<unknown> {
    const until = this.#unknownUntil.get(schemaId);
    const firstAsked = this.#clock();
    if (until !== undefined && until <= firstAsked) this.#unknownUntil.delete(schemaId);
    const knownUnknown = until !== undefined && until > firstAsked;
    for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2_000)) {
      try {
        return await this.#registry.getSchema(schemaId);
      } catch (error) {
        const notFound = (error as { status?: number } | null)?.status === 404;
        const elapsed = this.#clock() - firstAsked;
        if (!notFound || knownUnknown || elapsed >= this.#unknownIdGraceMs) {
          if (notFound) this.#unknownUntil.set(schemaId, this.#clock() + this.#unknownIdGraceMs);
          throw error;
        }
        await this.#sleep(Math.min(delayMs, this.#unknownIdGraceMs - elapsed));
      }
    }
  }

  async #resolve(contract: ContractName, schemaId: number): Promise<Resolved> {
    let writerSchema: avro.Schema;
    try {
      const found = (await this.#fetchSchema(schemaId)) as { schema?: () => avro.Schema };
      if (typeof found.schema !== 'function') throw new InputError(ErrorCode.WRONG_SCHEMA, `schema id ${schemaId} is not an Avro schema`);
      writerSchema = found.schema();
    } catch (error) {
      if (error instanceof InputError) throw error;
      // The registry answered with a schema the client cannot use (an unknown schema type, or Avro
      // that avsc refuses, such as a union default not of the first branch). An id's schema never
      // changes, so retrying would stall the partition on this record forever.
      if ((error as { name?: string } | null)?.name === 'ConfluentSchemaRegistryArgumentError') {
        throw new InputError(ErrorCode.WRONG_SCHEMA, `schema id ${schemaId} is not a usable Avro schema: ${errorMessage(error)}`, error);
      }
      const status = (error as { status?: number }).status;
      if (status === 404) {
        throw new InputError(ErrorCode.UNKNOWN_SCHEMA_ID, `schema id ${schemaId} is unknown to the registry (asked again for ${this.#unknownIdGraceMs} ms)`, error);
      }
      // 400 is not the registry's word: the client reports a request that got no HTTP answer
      // (timed out, refused, reset) as status 400. Dead-lettering on it would dead-letter every
      // record of a new id during an outage.
      if (status !== undefined && status > 400 && status < 500 && ![401, 403, 408, 429].includes(status)) {
        throw new InputError(ErrorCode.UNKNOWN_SCHEMA_ID, `registry refused schema id ${schemaId} (HTTP ${status})`, error);
      }
      const message = this.#config
        ? registryFailure(`resolving schema id ${schemaId}`, this.#config, error).message
        : `registry unavailable while resolving schema id ${schemaId}: ${errorMessage(error)}`;
      throw new StoError(ErrorCode.REGISTRY_UNAVAILABLE, message, {
        retriable: true,
        cause: error,
      });
    }
    const writerType = avro.Type.forSchema(writerSchema);
    const expected = CONTRACTS[contract].fullName;
    if (writerType.name !== expected) {
      throw new InputError(ErrorCode.WRONG_SCHEMA, `schema id ${schemaId} is ${writerType.name ?? 'unnamed'}, expected ${expected}`);
    }
    const reader = this.#reader(contract);
    try {
      return { reader, resolver: reader.createResolver(writerType) };
    } catch (error) {
      throw new InputError(ErrorCode.WRONG_SCHEMA, `schema id ${schemaId} cannot be read as ${expected}: ${errorMessage(error)}`, error);
    }
  }
}

/** Fails fast with a message naming STO_SCHEMA_REGISTRY_URL when the registry does not answer. */
export async function assertRegistryReachable(config: RegistryConfig): Promise<void> {
  try {
    const headers: Record<string, string> = {};
    if (config.username) headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
    const response = await fetch(`${config.url}/subjects`, { headers, signal: AbortSignal.timeout(config.timeoutMs) });
    if (!response.ok) throw new Error(`HTTP ${response.status} from GET /subjects`);
  } catch (error) {
    throw new StoError(
      ErrorCode.DEPENDENCY_UNREACHABLE,
      `STO_SCHEMA_REGISTRY_URL=${config.url}: no Confluent-compatible schema registry answers there (${errorMessage(error)})`,
      { cause: error },
    );
  }
}

/**
 * Start-up of a long-running service: waits until the registry answers and `lookup` (the
 * service's schema id lookups) succeeds, saying so in the log at every attempt, instead of
 * exiting (a supervisor would restart it in a loop while the registry is down). Backoff from
 * 0.5 s doubling to `maxDelayMs`.
 */
export async function waitForRegistry<T>(
  config: RegistryConfig,
  logger: Logger,
  lookup: () => Promise<T>,
  options: { maxDelayMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const started = Date.now();
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  for (let attempt = 1, delayMs = 500; ; attempt++, delayMs = Math.min(delayMs * 2, maxDelayMs)) {
    try {
      await assertRegistryReachable(config);
      const found = await lookup();
      if (attempt > 1) logger.info({ registry: config.url, attempts: attempt, waitedMs: Date.now() - started }, 'schema registry answers: starting');
      return found;
    } catch (error) {
      options.signal?.throwIfAborted();
      logger.warn(
        { registry: config.url, attempt, waitedMs: Date.now() - started, retryInMs: delayMs, reason: errorMessage(error) },
        'waiting for the schema registry (STO_SCHEMA_REGISTRY_URL): not ready until it answers',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
