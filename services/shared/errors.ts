// A small error taxonomy: a stable `code`, a `retriable` flag and a `cause`.
// The flag decides what happens to a record (errorDisposition): an error of ours that is not
// retriable sends the record to the dead-letter topic; a retriable one, or any foreign error
// (I/O, broker, store), is retried in place.

export const ErrorCode = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  DEPENDENCY_UNREACHABLE: 'DEPENDENCY_UNREACHABLE',
  UNDECODABLE: 'UNDECODABLE',
  UNKNOWN_SCHEMA_ID: 'UNKNOWN_SCHEMA_ID',
  WRONG_SCHEMA: 'WRONG_SCHEMA',
  INVALID_FIELD: 'INVALID_FIELD',
  OVERSIZE: 'OVERSIZE',
  REGISTRY_UNAVAILABLE: 'REGISTRY_UNAVAILABLE',
  STORE_FAILURE: 'STORE_FAILURE',
  /** The service's own pure code threw on this record (a defect): dead-lettered, not retried forever. */
  PROCESSING_FAILED: 'PROCESSING_FAILED',
  /** A stored value or changelog record that cannot be read: quarantined (dead-lettered with its key and bytes), the key starts fresh. */
  CORRUPT_STATE: 'CORRUPT_STATE',
  /** An enum field holds a symbol this reader does not know (read as UNKNOWN) where it matters. */
  UNKNOWN_SYMBOL: 'UNKNOWN_SYMBOL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes about the environment rather than a record: retriable unless the thrower says otherwise. */
const RETRIABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set([ErrorCode.DEPENDENCY_UNREACHABLE, ErrorCode.REGISTRY_UNAVAILABLE]);

export class StoError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StoError';
    this.code = code;
    this.retriable = options.retriable ?? RETRIABLE_BY_DEFAULT.has(code);
  }
}

/** A record that can never be processed as it is: it belongs in the dead-letter topic. */
export class InputError extends StoError {
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
    this.name = 'InputError';
  }
}

export class ConfigError extends StoError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(ErrorCode.CONFIG_INVALID, `${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export function isInputError(error: unknown): error is InputError {
  return errorDisposition(error) === 'dead-letter';
}

const CODES = new Set<string>(Object.values(ErrorCode));

/**
 * What to do with a record whose processing threw, read from the error's data (its `code` and
 * `retriable` flag), not its class: errors of ours marked not retriable are about the record
 * and dead-letter it; everything else (retriable errors of ours, foreign errors such as a
 * broker, registry or disk failure) is about the environment and is retried.
 */
export function errorDisposition(error: unknown): 'dead-letter' | 'retry' {
  if (typeof error !== 'object' || error === null) return 'retry';
  const { code, retriable } = error as { code?: unknown; retriable?: unknown };
  return typeof code === 'string' && CODES.has(code) && retriable === false ? 'dead-letter' : 'retry';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs a pure step on one record's input (no I/O). An exception there would repeat on every
 * retry and block the partition for good, so it becomes an InputError (PROCESSING_FAILED) and
 * the record goes to the dead-letter topic with its bytes, to be replayed once the defect is fixed.
 */
export function pureStep<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof StoError) throw error;
    throw new InputError(ErrorCode.PROCESSING_FAILED, `${what} threw on this record: ${errorMessage(error)}`, error);
  }
}
