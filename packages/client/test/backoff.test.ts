import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF, shutdownJitter } from '../src/backoff.js';

const config = { ...DEFAULT_BACKOFF, minDelay: 250, maxDelay: 20_000, factor: 2 };

describe('backoffDelay', () => {
  it('grows exponentially from minDelay when there is no jitter', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, config, () => 0));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000]);
  });

  it('is capped at maxDelay, also for huge attempt numbers', () => {
    expect(backoffDelay(7, config, () => 0)).toBe(20_000);
    expect(backoffDelay(50, config, () => 0)).toBe(20_000);
    expect(backoffDelay(100_000, config, () => 0)).toBe(20_000);
  });

  it('spreads over the whole window [minDelay, ceiling] (full jitter)', () => {
    expect(backoffDelay(3, config, () => 0.5)).toBe(250 + (2000 - 250) / 2);
    expect(backoffDelay(3, config, () => 0.999999)).toBe(250);
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(6, config, Math.random);
      expect(delay).toBeGreaterThanOrEqual(250);
      expect(delay).toBeLessThanOrEqual(16_000);
    }
  });

  it('keeps delays in bounds when random() misbehaves', () => {
    expect(backoffDelay(2, config, () => -5)).toBe(1000);
    expect(backoffDelay(2, config, () => 7)).toBe(250);
    expect(backoffDelay(2, config, () => Number.NaN)).toBe(1000);
  });

  it('honours another factor', () => {
    const delays = [0, 1, 2].map((n) => backoffDelay(n, { ...config, minDelay: 100, factor: 3 }, () => 0));
    expect(delays).toEqual([100, 300, 900]);
  });
});

describe('shutdownJitter', () => {
  it('is zero without jitter and up to shutdownJitter with it', () => {
    expect(shutdownJitter(config, () => 0)).toBe(0);
    expect(shutdownJitter(config, () => 0.5)).toBe(2500);
  });
});
