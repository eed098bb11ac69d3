import { describe, expect, it } from 'vitest';
import { KeyedBatches } from '../../src/storage/keyed-batches.js';

/** A clock the test moves; `wait` resolves when the clock reaches its deadline. */
function manualClock() {
  let now = 0;
  const sleepers: Array<{ at: number; wake: () => void }> = [];
  return {
    now: () => now,
    wait: (ms: number) =>
      new Promise<void>((wake) => {
        sleepers.push({ at: now + ms, wake });
      }),
    sleeping: () => sleepers.length,
    advance(ms: number) {
      now += ms;
      for (const s of sleepers.splice(0)) {
        if (s.at <= now) s.wake();
        else sleepers.push(s);
      }
    },
  };
}

/** Resolve everything pending: promise callbacks and the batches' setImmediate starts. */
const settle = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

function recorder(spacing: number, clock = manualClock()) {
  const batches: Array<{ at: number; items: string[] }> = [];
  const b = new KeyedBatches<string, string>({
    max: 100,
    fits: () => true,
    apply: async (items) => {
      batches.push({ at: clock.now(), items: [...items] });
      return items.map((i) => `done ${i}`);
    },
    spacing: () => spacing,
    now: clock.now,
    wait: clock.wait,
  });
  return { b, batches, clock };
}

describe('KeyedBatches', () => {
  it('without spacing, applies what arrived in one turn together and the next arrivals at once', async () => {
    const { b, batches } = recorder(0);
    const first = [b.run('k', 'a'), b.run('k', 'b')];
    expect(await Promise.all(first)).toEqual(['done a', 'done b']);
    await b.run('k', 'c');
    expect(batches.map((x) => x.items)).toEqual([['a', 'b'], ['c']]);
  });

  it('with spacing, a busy key applies at most one batch per spacing and gathers what arrives meanwhile', async () => {
    const { b, batches, clock } = recorder(10);
    const answers: Array<Promise<string>> = [b.run('k', 'a')];
    await settle();
    expect(batches).toEqual([{ at: 0, items: ['a'] }]);
    // Arrivals 1, 4 and 9 ms after the first batch started wait for 10 ms, then go together.
    for (const [t, item] of [
      [1, 'b'],
      [3, 'c'],
      [5, 'd'],
    ] as const) {
      clock.advance(t);
      answers.push(b.run('k', item));
      await settle();
    }
    expect(batches.length).toBe(1);
    clock.advance(1);
    await settle();
    expect(batches).toEqual([
      { at: 0, items: ['a'] },
      { at: 10, items: ['b', 'c', 'd'] },
    ]);
    expect(await Promise.all(answers)).toEqual(['done a', 'done b', 'done c', 'done d']);
  });

  it('with spacing, a key after a quiet spell starts at once, and other keys never wait for it', async () => {
    const { b, batches, clock } = recorder(10);
    await Promise.all([b.run('k', 'a'), b.run('j', 'x')]);
    clock.advance(10);
    await settle();
    expect(clock.sleeping()).toBe(0);
    clock.advance(50);
    const late = b.run('k', 'b');
    await settle();
    expect(batches.at(-1)).toEqual({ at: 60, items: ['b'] });
    expect(await late).toBe('done b');
    // 'k' waits 10 ms for its next batch; 'j' does not.
    clock.advance(2);
    const k = b.run('k', 'c');
    const j = b.run('j', 'y');
    await settle();
    expect(batches.at(-1)).toEqual({ at: 62, items: ['y'] });
    expect(await j).toBe('done y');
    clock.advance(8);
    await settle();
    expect(batches.at(-1)).toEqual({ at: 70, items: ['c'] });
    expect(await k).toBe('done c');
  });

  it('a batch that fails rejects only its own requests; the key goes on', async () => {
    const clock = manualClock();
    let calls = 0;
    const b = new KeyedBatches<string, string>({
      max: 100,
      fits: () => true,
      apply: async (items) => {
        calls++;
        if (calls === 1) throw new Error('store down');
        return items.map((i) => (i === 'bad' ? new Error('refused') : `done ${i}`));
      },
      spacing: () => 5,
      now: clock.now,
      wait: clock.wait,
    });
    const first = b.run('k', 'a');
    await expect(first).rejects.toThrow('store down');
    const next = [expect(b.run('k', 'b')).resolves.toBe('done b'), expect(b.run('k', 'bad')).rejects.toThrow('refused')];
    clock.advance(5);
    await settle();
    await Promise.all(next);
  });
});
