/** Memory-engine behaviour pinned to exact times with an injected clock (no waiting). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PublishOptions } from '../../src/engine/broker.js';
import { MemoryBroker } from '../../src/engine/memory-broker.js';
import { MemoryLimitStore } from '../../src/engine/memory-limit-store.js';

const opts = (over: Partial<PublishOptions> = {}): PublishOptions => ({ historySize: 100, historyTtl: 1_000, idempotencyTtl: 1_000, ...over });

describe('MemoryBroker with an injected clock', () => {
  let now = 1_000_000;
  const clock = () => now;
  const open: Array<{ close(): Promise<void> }> = [];
  const make = () => {
    const b = new MemoryBroker(clock);
    open.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
    vi.useRealTimers();
  });

  it('stamps publications with the injected time', async () => {
    now = 1_000_000;
    const b = make();
    await b.publish('t|c', '1', opts());
    now += 5;
    await b.publish('t|c', '2', opts());
    expect((await b.history('t|c', { limit: 10 })).publications.map((p) => p.time)).toEqual([1_000_000, 1_000_005]);
  });

  it('keeps a publication until exactly historyTtl has passed', async () => {
    now = 1_000_000;
    const b = make();
    await b.publish('t|c', '1', opts({ historyTtl: 1_000 }));
    now += 500;
    await b.publish('t|c', '2', opts({ historyTtl: 1_000 }));
    now = 1_000_999;
    expect((await b.history('t|c', { limit: 10 })).publications.map((p) => p.offset)).toEqual([1, 2]);
    now = 1_001_000;
    const page = await b.history('t|c', { limit: 10 });
    expect(page.publications.map((p) => p.offset)).toEqual([2]);
    expect(page.firstOffset).toBe(2);
    now = 1_001_500;
    const empty = await b.history('t|c', { limit: 10 });
    expect(empty.publications).toEqual([]);
    expect(empty.firstOffset).toBe(3);
    expect(empty.offset).toBe(2);
  });

  it('deduplicates a key until exactly idempotencyTtl has passed', async () => {
    now = 2_000_000;
    const b = make();
    const first = await b.publish('t|c', '1', opts({ idempotencyKey: 'k', idempotencyTtl: 300 }));
    now += 299;
    expect(await b.publish('t|c', '1', opts({ idempotencyKey: 'k', idempotencyTtl: 300 }))).toEqual({ ...first, deduplicated: true });
    now += 1;
    expect(await b.publish('t|c', '1', opts({ idempotencyKey: 'k', idempotencyTtl: 300 }))).toEqual({ offset: 2, epoch: first.epoch, deduplicated: false });
  });

  it('forgets an idle channel that was only read after 5 minutes, so its epoch changes', async () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const b = new MemoryBroker(() => Date.now());
    open.push(b);
    const before = await b.history('t|read-only', { limit: 0 });
    vi.advanceTimersByTime(4 * 60_000);
    expect((await b.history('t|read-only', { limit: 0 })).epoch).toBe(before.epoch);
    // Reading touched it again at 4 min: it is forgotten at the first sweep more than 5 min later.
    vi.advanceTimersByTime(6 * 60_000);
    expect((await b.history('t|read-only', { limit: 0 })).epoch).not.toBe(before.epoch);
  });

  it('keeps the epoch and offset of a subscribed channel however long it is idle', async () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const b = new MemoryBroker(() => Date.now());
    open.push(b);
    await b.subscribe('t|live');
    const out = await b.publish('t|live', '1', opts({ historyTtl: 1_000 }));
    vi.advanceTimersByTime(48 * 3_600_000);
    const page = await b.history('t|live', { limit: 10 });
    expect(page).toMatchObject({ epoch: out.epoch, offset: 1, publications: [], firstOffset: 2 });
  });

  it('keeps the epoch of an unsubscribed published channel for 24 hours of idleness, then forgets it', async () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const b = new MemoryBroker(() => Date.now());
    open.push(b);
    await b.subscribe('t|gone');
    const out = await b.publish('t|gone', '1', opts({ historyTtl: 1_000, idempotencyTtl: 1_000 }));
    await b.unsubscribe('t|gone');
    vi.advanceTimersByTime(23 * 3_600_000);
    expect(await b.history('t|gone', { limit: 0 })).toMatchObject({ epoch: out.epoch, offset: 1 });
    vi.advanceTimersByTime(25 * 3_600_000);
    const later = await b.history('t|gone', { limit: 0 });
    expect(later.epoch).not.toBe(out.epoch);
    expect(later.offset).toBe(0);
  });
});

describe('MemoryLimitStore with an injected clock', () => {
  it('refills buckets at the given rate and caps them at the burst', async () => {
    let now = 0;
    const limits = new MemoryLimitStore(() => now);
    const take = () => limits.take('k', 2, 3);
    expect([await take(), await take(), await take(), await take()]).toEqual([true, true, true, false]);
    now += 499;
    expect(await take()).toBe(false);
    now += 1;
    expect(await take()).toBe(true);
    now += 60_000;
    expect([await take(), await take(), await take(), await take()]).toEqual([true, true, true, false]);
    await limits.close();
  });

  it('forgets full buckets on its sweep, so a returning key starts full', async () => {
    vi.useFakeTimers({ now: 0 });
    const limits = new MemoryLimitStore(() => Date.now());
    expect(await limits.take('k', 1, 1)).toBe(true);
    expect(await limits.take('k', 1, 1)).toBe(false);
    vi.advanceTimersByTime(30_000);
    expect(await limits.take('k', 1, 1)).toBe(true);
    await limits.close();
    vi.useRealTimers();
  });
});
