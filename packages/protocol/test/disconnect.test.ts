import { describe, expect, it } from 'vitest';
import { DisconnectCode, type DisconnectCodeName, disconnectCodeName, shouldReconnect } from '../src/disconnect.js';

const names = Object.keys(DisconnectCode) as DisconnectCodeName[];

describe('DisconnectCode', () => {
  it('has unique codes', () => {
    const codes = names.map((n) => DisconnectCode[n].code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('keeps every code in 3000–3999', () => {
    for (const n of names) {
      expect(DisconnectCode[n].code).toBeGreaterThanOrEqual(3000);
      expect(DisconnectCode[n].code).toBeLessThanOrEqual(3999);
    }
  });

  it('puts exactly the codes a client reconnects after below 3500', () => {
    const reconnecting = names.filter((n) => DisconnectCode[n].code < 3500).sort();
    expect(reconnecting).toEqual(['Expired', 'Flood', 'ForceReconnect', 'InsufficientState', 'NoPong', 'ServerError', 'Shutdown', 'SlowConsumer', 'Stale']);
    for (const n of names) expect(shouldReconnect(DisconnectCode[n].code)).toBe(DisconnectCode[n].code < 3500);
  });

  it('keeps every reason non-empty and at most 123 UTF-8 bytes', () => {
    for (const n of names) {
      const bytes = Buffer.byteLength(DisconnectCode[n].reason, 'utf8');
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThanOrEqual(123);
    }
  });

  it('round-trips names through disconnectCodeName', () => {
    for (const n of names) expect(disconnectCodeName(DisconnectCode[n].code)).toBe(n);
    for (const code of [1000, 3000, 3499, 4000, 4500]) expect(disconnectCodeName(code)).toBeUndefined();
  });

  it('is frozen, entries included', () => {
    expect(Object.isFrozen(DisconnectCode)).toBe(true);
    for (const n of names) expect(Object.isFrozen(DisconnectCode[n])).toBe(true);
  });
});

describe('shouldReconnect', () => {
  it.each<[number, boolean]>([
    [3000, true],
    [3499, true],
    [3500, false],
    [3999, false],
    [4000, true],
    [4499, true],
    [4500, false],
    [4999, false],
  ])('decides %d by its range: reconnect %s', (code, expected) => {
    expect(shouldReconnect(code)).toBe(expected);
  });

  it.each([1002, 1003, 1007, 1008, 1009])('does not reconnect after standard code %d, which would repeat', (code) => {
    expect(shouldReconnect(code)).toBe(false);
  });

  it.each([1000, 1001, 1005, 1006, 1011, 1012, 1013])('reconnects after standard code %d', (code) => {
    expect(shouldReconnect(code)).toBe(true);
  });
});
