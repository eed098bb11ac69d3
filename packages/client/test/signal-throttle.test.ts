import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SignalThrottle } from '../src/signal-throttle.js';
import { globalTimers } from '../src/timers.js';

describe('SignalThrottle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup() {
    const sent: Array<[string, unknown]> = [];
    const throttle = new SignalThrottle(
      50,
      globalTimers,
      () => Date.now(),
      (key, data) => sent.push([key, data]),
    );
    return { sent, throttle };
  }

  it('sends the first value at once and only the latest one per interval', () => {
    const { sent, throttle } = setup();
    throttle.push('cursor', 1);
    throttle.push('cursor', 2);
    throttle.push('cursor', 3);
    expect(sent).toEqual([['cursor', 1]]);
    vi.advanceTimersByTime(49);
    expect(sent).toEqual([['cursor', 1]]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([
      ['cursor', 1],
      ['cursor', 3],
    ]);
    vi.advanceTimersByTime(1000);
    expect(sent).toHaveLength(2);
  });

  it('throttles each key on its own', () => {
    const { sent, throttle } = setup();
    throttle.push('cursor', 1);
    throttle.push('typing', true);
    expect(sent).toEqual([
      ['cursor', 1],
      ['typing', true],
    ]);
  });

  it('drops pending values on clear', () => {
    const { sent, throttle } = setup();
    throttle.push('cursor', 1);
    throttle.push('cursor', 2);
    throttle.clear();
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([['cursor', 1]]);
  });
});
