import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { RegistryConfig } from '../config/common-config.ts';
import { ErrorCode, InputError, StoError, errorMessage } from '../errors.ts';
import { CONTRACTS, readSchemaJson, readerType, type ContractName } from './schema-files.ts';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export interface Writer {
  readonly contract: ContractName;
  readonly schemaId: number;
  readonly type: avro.Type;
}

export function createSchemaRegistryClient(config: RegistryConfig): SchemaRegistry {
  return new SchemaRegistry({
    host: config.url,
    clientId: 'sto',
    ...(config.username ? { auth: { username: config.username, password: config.password ?? '' } } : {}),
    // A request the registry never answers must not hang a service (or a restore) forever: each
    // request times out after STO_SCHEMA_REGISTRY_TIMEOUT_MS and is retried like a 5xx (5 times: a registry that stalls for half a minute is ridden out).
    retry: { retries: 5, initialRetryTimeInSecs: 0.1, maxRetryTimeInSecs: 2, validateRetry: retriable },
    middlewares: [requestTimeout(config.timeoutMs)],
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
  return response.status() >= 500 || response.errors.some((error) => typeof error === 'object' && error?.name === 'TimeoutError');
}

/**
 * Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body) over a
 * Confluent-compatible registry. Records are read with the project's reader schema through an
 * avsc resolver built once per writer schema id, so older writers stay readable (BACKWARD).
 */
export class SchemaCodec {
  readonly #registry: SchemaRegistry;
  readonly #readers = new Map<ContractName, avro.Type>();
  readonly #resolvers = new Map<string, { reader: avro.Type; resolver: avro.Resolver }>();

  constructor(registry: SchemaRegistry) {
    this.#registry = registry;
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
      throw new StoError(
        ErrorCode.REGISTRY_UNAVAILABLE,
        `schema of ${contract} is not registered under subject ${subject} (run the bootstrap step): ${errorMessage(error)}`,
        { cause: error },
      );
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
      entry = await this.#resolve(contract, schemaId);
      this.#resolvers.set(key, entry);
    }
    try {
      return entry.reader.fromBuffer(bytes.subarray(HEADER_BYTES), entry.resolver, false) as T;
    } catch (error) {
      throw new InputError(ErrorCode.UNDECODABLE, `Avro body does not decode with schema id ${schemaId}: ${errorMessage(error)}`, error);
    }
  }

  async #resolve(contract: ContractName, schemaId: number): Promise<{ reader: avro.Type; resolver: avro.Resolver }> {
    let writerSchema: avro.Schema;
    try {
      const found = (await this.#registry.getSchema(schemaId)) as unknown as { schema?: () => avro.Schema };
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
      if (status === 404) throw new InputError(ErrorCode.UNKNOWN_SCHEMA_ID, `schema id ${schemaId} is unknown to the registry`, error);
      if (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429) {
        throw new InputError(ErrorCode.UNKNOWN_SCHEMA_ID, `registry refused schema id ${schemaId} (HTTP ${status})`, error);
      }
      throw new StoError(ErrorCode.REGISTRY_UNAVAILABLE, `registry unavailable while resolving schema id ${schemaId}: ${errorMessage(error)}`, {
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
