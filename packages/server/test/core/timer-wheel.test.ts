import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimerWheel } from '../../src/core/timer-wheel.js';

/** A wheel of 8 slots of 50 ms (one round = 400 ms) on a clock the test moves. */
function makeWheel(slots = 8) {
  const clock = { now: 1_000_000 };
  const errors: unknown[] = [];
  const wheel = new TimerWheel(
    50,
    slots,
    () => clock.now,
    (err) => errors.push(err),
  );
  /** Move the clock in `step` ms ticks, advancing the wheel at each, like the interval would. */
  const run = (ms: number, step = 50) => {
    for (let t = step; t <= ms; t += step) {
      clock.now += step;
      wheel.advance();
    }
  };
  return { clock, wheel, errors, run };
}

describe('TimerWheel', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a callback once its delay has passed, not before', () => {
    const { clock, wheel } = makeWheel();
    const fn = vi.fn();
    wheel.schedule(120, fn);
    clock.now += 119;
    wheel.advance();
    expect(fn).not.toHaveBeenCalled();
    clock.now += 1;
    wheel.advance();
    expect(fn).toHaveBeenCalledTimes(1);
    clock.now += 1_000;
    wheel.advance();
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('runs a zero or negative delay at the next advance', () => {
    const { wheel } = makeWheel();
    const calls: string[] = [];
    wheel.schedule(0, () => calls.push('zero'));
    wheel.schedule(-500, () => calls.push('negative'));
    wheel.advance();
    expect(calls.sort()).toEqual(['negative', 'zero']);
  });

  it('tracks the number of pending callbacks', () => {
    const { wheel, run } = makeWheel();
    const a = wheel.schedule(100, () => {});
    wheel.schedule(200, () => {});
    wheel.schedule(300, () => {});
    expect(wheel.size).toBe(3);
    a.cancel();
    expect(wheel.size).toBe(2);
    run(200);
    expect(wheel.size).toBe(1);
    run(100);
    expect(wheel.size).toBe(0);
  });

  it('cancel prevents the callback and is idempotent, also after it ran', () => {
    const { wheel, run } = makeWheel();
    const cancelled = vi.fn();
    const ran = vi.fn();
    const h1 = wheel.schedule(100, cancelled);
    const h2 = wheel.schedule(100, ran);
    h1.cancel();
    h1.cancel();
    expect(wheel.size).toBe(1);
    run(150);
    expect(cancelled).not.toHaveBeenCalled();
    expect(ran).toHaveBeenCalledTimes(1);
    h2.cancel();
    expect(wheel.size).toBe(0);
  });

  it('runs delays longer than several rounds of the wheel only when due', () => {
    const { wheel, run } = makeWheel();
    const fn = vi.fn();
    // 2000 ms on a 400 ms wheel: the slot comes round 5 times before the deadline.
    wheel.schedule(2_000, fn);
    run(1_950);
    expect(fn).not.toHaveBeenCalled();
    run(50);
    expect(fn).toHaveBeenCalledTimes(1);
    run(2_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('keeps entries of the same slot from different rounds apart', () => {
    const { wheel, run } = makeWheel();
    const calls: number[] = [];
    wheel.schedule(100, () => calls.push(100));
    wheel.schedule(500, () => calls.push(500));
    wheel.schedule(900, () => calls.push(900));
    run(100);
    expect(calls).toEqual([100]);
    run(400);
    expect(calls).toEqual([100, 500]);
    run(400);
    expect(calls).toEqual([100, 500, 900]);
  });

  it('catches up after a stall shorter than a round', () => {
    const { clock, wheel } = makeWheel();
    const calls: number[] = [];
    for (const d of [50, 100, 150, 250, 1_000]) wheel.schedule(d, () => calls.push(d));
    clock.now += 300;
    wheel.advance();
    expect(calls.sort((a, b) => a - b)).toEqual([50, 100, 150, 250]);
    expect(wheel.size).toBe(1);
  });

  it('catches up after a stall of many rounds in one advance', () => {
    const { clock, wheel } = makeWheel();
    const calls: number[] = [];
    for (const d of [10, 390, 400, 1_234, 9_999]) wheel.schedule(d, () => calls.push(d));
    wheel.schedule(20_000, () => calls.push(20_000));
    clock.now += 10_000;
    wheel.advance();
    expect(calls.sort((a, b) => a - b)).toEqual([10, 390, 400, 1_234, 9_999]);
    expect(wheel.size).toBe(1);
    clock.now += 10_000;
    wheel.advance();
    expect(calls).toContain(20_000);
    expect(wheel.size).toBe(0);
  });

  it('a throwing callback is reported and does not stop the others', () => {
    const { wheel, errors, run } = makeWheel();
    const boom = new Error('boom');
    const calls: string[] = [];
    wheel.schedule(50, () => calls.push('before'));
    wheel.schedule(50, () => {
      throw boom;
    });
    wheel.schedule(50, () => calls.push('same slot after'));
    wheel.schedule(100, () => calls.push('later slot'));
    run(100);
    expect(calls).toEqual(['before', 'same slot after', 'later slot']);
    expect(errors).toEqual([boom]);
    expect(wheel.size).toBe(0);
  });

  it('a callback may cancel another callback due in the same advance', () => {
    const { wheel, run } = makeWheel();
    const victim = vi.fn();
    let handle: { cancel(): void } | undefined;
    wheel.schedule(50, () => handle?.cancel());
    handle = wheel.schedule(50, victim);
    run(50);
    expect(victim).not.toHaveBeenCalled();
    expect(wheel.size).toBe(0);
  });

  it('a callback may re-arm itself for a periodic deadline', () => {
    const { wheel, run } = makeWheel();
    let count = 0;
    const tick = () => {
      count++;
      wheel.schedule(100, tick);
    };
    wheel.schedule(100, tick);
    run(1_000);
    expect(count).toBe(10);
    expect(wheel.size).toBe(1);
  });

  it('a callback scheduled from a callback with no delay runs by the next advance, once', () => {
    const { wheel, run } = makeWheel();
    const inner = vi.fn();
    wheel.schedule(50, () => {
      wheel.schedule(0, inner);
    });
    run(50);
    wheel.advance();
    expect(inner).toHaveBeenCalledTimes(1);
    run(500);
    expect(inner).toHaveBeenCalledTimes(1);
  });

  it('start() advances on its own interval and stop() halts it', () => {
    vi.useFakeTimers({ now: 5_000_000 });
    const wheel = new TimerWheel(50, 16, () => Date.now());
    const fn = vi.fn();
    wheel.start();
    wheel.start();
    wheel.schedule(120, fn);
    vi.advanceTimersByTime(100);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(50);
    expect(fn).toHaveBeenCalledTimes(1);
    wheel.stop();
    const after = vi.fn();
    wheel.schedule(50, after);
    vi.advanceTimersByTime(1_000);
    expect(after).not.toHaveBeenCalled();
    expect(wheel.size).toBe(1);
  });
});
