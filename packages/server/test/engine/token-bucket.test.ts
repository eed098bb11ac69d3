import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/engine/token-bucket.js';

function clocked(rate: number, burst: number, start = 1_000) {
  const clock = { now: start };
  return { clock, bucket: new TokenBucket(rate, burst, () => clock.now) };
}

describe('TokenBucket', () => {
  it('starts full: allows burst takes at once, then refuses', () => {
    const { bucket } = clocked(1, 3);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });

  it('refills continuously at ratePerSecond', () => {
    const { clock, bucket } = clocked(4, 1);
    expect(bucket.take()).toBe(true);
    clock.now += 249;
    expect(bucket.take()).toBe(false);
    clock.now += 1;
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('accumulates fractional refills across calls', () => {
    const { clock, bucket } = clocked(0.5, 1);
    expect(bucket.take()).toBe(true);
    for (let i = 0; i < 3; i++) {
      clock.now += 500;
      expect(bucket.take()).toBe(false);
    }
    clock.now += 500;
    expect(bucket.take()).toBe(true);
  });

  it('never holds more than burst tokens after a long idle period', () => {
    const { clock, bucket } = clocked(10, 2);
    bucket.take();
    bucket.take();
    clock.now += 3_600_000;
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });

  it('takes cost tokens at once, and a refused take consumes nothing', () => {
    const { clock, bucket } = clocked(1, 5);
    expect(bucket.take(3)).toBe(true);
    expect(bucket.take(3)).toBe(false);
    expect(bucket.take(2)).toBe(true);
    expect(bucket.take(1)).toBe(false);
    clock.now += 3_000;
    expect(bucket.take(3)).toBe(true);
  });

  it('always refuses a cost larger than the burst', () => {
    const { clock, bucket } = clocked(100, 2);
    expect(bucket.take(3)).toBe(false);
    clock.now += 3_600_000;
    expect(bucket.take(3)).toBe(false);
    expect(bucket.take(2)).toBe(true);
  });

  it('full() is true when untouched or refilled, false after a take', () => {
    const { clock, bucket } = clocked(1, 2);
    expect(bucket.full()).toBe(true);
    bucket.take();
    expect(bucket.full()).toBe(false);
    clock.now += 999;
    expect(bucket.full()).toBe(false);
    clock.now += 1;
    expect(bucket.full()).toBe(true);
  });

  it('a clock that steps backwards adds no tokens and refills from the last reading once it recovers', () => {
    const { clock, bucket } = clocked(1, 1, 50_000);
    expect(bucket.take()).toBe(true);
    clock.now = 10_000;
    expect(bucket.take()).toBe(false);
    clock.now = 50_999;
    expect(bucket.take()).toBe(false);
    clock.now = 51_000;
    expect(bucket.take()).toBe(true);
  });

  it('exposes its rate and burst', () => {
    const { bucket } = clocked(7, 14);
    expect([bucket.ratePerSecond, bucket.burst]).toEqual([7, 14]);
  });
});
