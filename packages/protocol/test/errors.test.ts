import { describe, expect, it } from 'vitest';
import { APPLICATION_ERROR_MAX, APPLICATION_ERROR_MIN, ErrorCode, type ErrorCodeName, errorCodeName } from '../src/errors.js';

const names = Object.keys(ErrorCode) as ErrorCodeName[];

describe('ErrorCode', () => {
  it('has unique codes', () => {
    const codes = names.map((n) => ErrorCode[n].code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('keeps every code in the Switchboard range 0–399, below the application range', () => {
    for (const n of names) {
      expect(Number.isInteger(ErrorCode[n].code)).toBe(true);
      expect(ErrorCode[n].code).toBeGreaterThanOrEqual(0);
      expect(ErrorCode[n].code).toBeLessThanOrEqual(399);
    }
    expect([APPLICATION_ERROR_MIN, APPLICATION_ERROR_MAX]).toEqual([400, 1999]);
  });

  it('gives every code a non-empty lower-case message', () => {
    for (const n of names) expect(ErrorCode[n].message).toMatch(/^[a-z][a-z ]*[a-z]$/);
  });

  it('marks exactly the retryable errors temporary', () => {
    expect(names.filter((n) => ErrorCode[n].temporary).sort()).toEqual([
      'BackendBusy',
      'BackendUnavailable',
      'IngestRateLimited',
      'Internal',
      'Locked',
      'TooManyRequests',
      'Unavailable',
    ]);
  });

  it('round-trips names through errorCodeName', () => {
    for (const n of names) expect(errorCodeName(ErrorCode[n].code)).toBe(n);
    expect(errorCodeName(ErrorCode.PermissionDenied.code)).toBe('PermissionDenied');
  });

  it('has no name for application or unknown codes', () => {
    for (const code of [0, 99, 399, 400, 1999, -1]) expect(errorCodeName(code)).toBeUndefined();
  });

  it('is frozen, entries included', () => {
    expect(Object.isFrozen(ErrorCode)).toBe(true);
    for (const n of names) expect(Object.isFrozen(ErrorCode[n])).toBe(true);
  });
});
