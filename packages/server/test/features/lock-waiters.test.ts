import { describe, expect, it } from 'vitest';
import { type Holding, Holdings } from '../../src/features/locks/holdings.js';
import { type AcquireOutcome, PendingAcquire, WaitQueues } from '../../src/features/locks/waiters.js';

/** A try whose answer the test gives when it chooses. */
function deferredTries<T>() {
  const pending: Array<(v: T | null) => void> = [];
  const tryOnce = () => new Promise<T | null>((resolve) => pending.push(resolve));
  return { tryOnce, pending };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('PendingAcquire', () => {
  it('runs the last try after a try on its way, not beside it, and ends once', async () => {
    const { tryOnce, pending } = deferredTries<string>();
    const outcomes: AcquireOutcome<string>[] = [];
    const waiter = new PendingAcquire('c1', tryOnce, (o) => outcomes.push(o));
    const nudged = waiter.attempt();
    await flush();
    expect(pending).toHaveLength(1);
    // The wait runs out while the nudged try is on its way.
    const expired = waiter.expire(async () => new Error('locked'));
    await flush();
    expect(pending).toHaveLength(1);
    pending[0]?.('grant-8');
    expect(await nudged).toBe(true);
    await expired;
    // The grant ended the wait: the last try never ran, so nothing was granted twice.
    expect(pending).toHaveLength(1);
    expect(outcomes).toEqual([{ value: 'grant-8' }]);
  });

  it('refuses once when the last try finds the key still held', async () => {
    const { tryOnce, pending } = deferredTries<string>();
    const outcomes: AcquireOutcome<string>[] = [];
    const waiter = new PendingAcquire('c1', tryOnce, (o) => outcomes.push(o));
    const nudged = waiter.attempt();
    const expired = waiter.expire(async () => 'locked');
    await flush();
    pending[0]?.(null);
    expect(await nudged).toBe(false);
    await flush();
    expect(pending).toHaveLength(2);
    pending[1]?.(null);
    await expired;
    expect(outcomes).toEqual([{ error: 'locked' }]);
    // A nudge after the end tries nothing.
    expect(await waiter.attempt()).toBe(true);
    expect(pending).toHaveLength(2);
  });

  it('ends with the error of a try that fails, and a closed connection ends it once', async () => {
    const failing = new PendingAcquire<string>(
      'c1',
      async () => {
        throw new Error('store down');
      },
      () => {},
    );
    expect(await failing.attempt()).toBe(false);
    expect(failing.ended).toBe(true);

    const outcomes: AcquireOutcome<string>[] = [];
    const closed = new PendingAcquire<string>(
      'c2',
      async () => null,
      (o) => outcomes.push(o),
    );
    closed.abandon('timeout');
    expect(closed.ended).toBe(false);
    closed.abandon('closed', 'gone');
    closed.abandon('closed', 'again');
    expect(outcomes).toEqual([{ error: 'gone' }]);
  });

  it('lets the next waiter in line try when the first one is granted', async () => {
    const queues = new WaitQueues();
    const granted: string[] = [];
    let free = true;
    const make = (id: string) =>
      new PendingAcquire<string>(
        id,
        async () => {
          if (!free) return null;
          free = false;
          return id;
        },
        (o) => {
          if ('value' in o) granted.push(o.value);
        },
      );
    queues.add('k', make('a'));
    queues.add('k', make('b'));
    await queues.freed('k');
    expect(granted).toEqual(['a']);
    free = true;
    await queues.freed('k');
    expect(granted).toEqual(['a', 'b']);
  });
  it('retryAll lets every waiter try, keeps the waits whose try failed, and drops the granted ones', async () => {
    const queues = new WaitQueues();
    const outcomes = new Map<string, AcquireOutcome<string>>();
    const answers = new Map<string, 'null' | 'grant' | 'throw'>([
      ['a', 'null'],
      ['b', 'throw'],
      ['c', 'grant'],
    ]);
    const waiters = ['a', 'b', 'c'].map(
      (id) =>
        new PendingAcquire<string>(
          id,
          async () => {
            const answer = answers.get(id);
            if (answer === 'throw') throw new Error('store down');
            return answer === 'grant' ? id : null;
          },
          (o) => outcomes.set(id, o),
        ),
    );
    for (const w of waiters) queues.add('k', w);
    await queues.retryAll();
    // The store failing on the periodic try does not end b's wait: only c, granted, is done.
    expect([...outcomes]).toEqual([['c', { value: 'c' }]]);
    expect(waiters.map((w) => w.ended)).toEqual([false, false, true]);
    // c left the queue: the first waiter is still a, then b, and a release nudges a.
    answers.set('a', 'grant');
    await queues.freed('k');
    expect(outcomes.get('a')).toEqual({ value: 'a' });
    // A try on a release that fails still ends the wait with its error.
    await queues.freed('k');
    expect(outcomes.get('b')).toMatchObject({ error: expect.any(Error) });
  });
});

describe('Holdings', () => {
  const holding = (token: number): Holding => ({ place: { tenant: 't', channel: 'c', key: 'k' }, leaseKey: 't|c|k', token, user: 'u', session: 's' });

  it('moves a grant to the connection that holds it now', () => {
    const h = new Holdings();
    expect(h.add('c1', holding(5))).toBe(true);
    expect(h.add('c2', holding(6))).toBe(true);
    expect(h.get('c1', 't|c|k')).toBeUndefined();
    expect(h.get('c2', 't|c|k')?.token).toBe(6);
  });

  it('keeps a newer grant when a stale one arrives late', () => {
    const h = new Holdings();
    h.add('next-holder', holding(9));
    expect(h.add('late', holding(8))).toBe(false);
    expect(h.get('next-holder', 't|c|k')?.token).toBe(9);
    expect(h.count('late')).toBe(0);
  });
});
