import { describe, expect, it } from 'vitest';
import { ErrorCode, errorDisposition, InputError, StoError } from '../../../services/shared/errors.ts';

describe('error disposition', () => {
  it('is decided by the retriable flag of our errors, not by their class', () => {
    expect(errorDisposition(new InputError(ErrorCode.INVALID_FIELD, 'bad'))).toBe('dead-letter');
    // Not an InputError, but ours and not retriable: about the record.
    expect(errorDisposition(new StoError(ErrorCode.PROCESSING_FAILED, 'defect'))).toBe('dead-letter');
    expect(errorDisposition(new StoError(ErrorCode.STORE_FAILURE, 'disk', { retriable: true }))).toBe('retry');
    expect(errorDisposition(new StoError(ErrorCode.REGISTRY_UNAVAILABLE, 'registry down'))).toBe('retry');
    // Foreign errors are about the environment, whatever flags they carry.
    expect(errorDisposition(Object.assign(new Error('broker'), { retriable: false }))).toBe('retry');
    expect(errorDisposition(new TypeError('x'))).toBe('retry');
    expect(errorDisposition('text')).toBe('retry');
  });
});
