// A small error taxonomy: a stable `code`, a `retriable` flag and a `cause`.
// Non-retriable input errors go to the dead-letter topic; retriable ones are retried in place.

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
  /** A value in a state store does not decode: quarantined (dead-lettered with its key and bytes), the key starts fresh. */
  CORRUPT_STATE: 'CORRUPT_STATE',
  /** An enum field holds a symbol this reader does not know (read as UNKNOWN) where it matters. */
  UNKNOWN_SYMBOL: 'UNKNOWN_SYMBOL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class StoError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StoError';
    this.code = code;
    this.retriable = options.retriable ?? false;
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
  return error instanceof InputError;
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
