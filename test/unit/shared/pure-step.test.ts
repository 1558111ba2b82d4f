import { describe, expect, it } from 'vitest';
import { ErrorCode, InputError, StoError, isInputError, pureStep } from '../../../services/shared/errors.ts';

describe('pureStep', () => {
  it('passes the result through', () => {
    expect(pureStep('sum', () => 1 + 1)).toBe(2);
  });

  it('turns a defect into a dead-letter reason instead of an endless retry', () => {
    const thrown = (() => {
      try {
        pureStep('the decision', () => {
          throw new RangeError('Invalid time value');
        });
      } catch (error) {
        return error;
      }
    })();
    expect(isInputError(thrown)).toBe(true);
    expect((thrown as InputError).code).toBe(ErrorCode.PROCESSING_FAILED);
    expect((thrown as Error).message).toBe('the decision threw on this record: Invalid time value');
    expect((thrown as Error).cause).toBeInstanceOf(RangeError);
  });

  it('keeps the project’s own errors as they are (a retriable store failure stays retriable)', () => {
    const failure = new StoError(ErrorCode.STORE_FAILURE, 'disk', { retriable: true });
    expect(() =>
      pureStep('x', () => {
        throw failure;
      }),
    ).toThrow(failure);
  });
});
