import { describe, expect, it } from 'vitest';
import { refreshDelay } from '../src/token-refresh.js';

describe('refreshDelay', () => {
  it('refreshes 10% of the lifetime before expiry for long tokens', () => {
    expect(refreshDelay(3_600_000, 0)).toBe(3_240_000);
  });

  it('refreshes at least 5 s before expiry', () => {
    expect(refreshDelay(30_000, 0)).toBe(25_000);
  });

  it('refreshes half-way through a short lifetime', () => {
    expect(refreshDelay(3_000, 0)).toBe(1_500);
    expect(refreshDelay(1_000_000 + 8_000, 1_000_000)).toBe(4_000);
  });

  it('refreshes at once when already expired', () => {
    expect(refreshDelay(1_000, 2_000)).toBe(0);
  });
});
