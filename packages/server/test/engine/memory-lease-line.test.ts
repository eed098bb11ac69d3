import { describe, expect, it } from 'vitest';
import { MemoryLeaseStore } from '../../src/engine/memory-lease-store.js';

/** The memory store's line on a clock the test moves: places that lapse, exactly when they lapse. */
describe('MemoryLeaseStore line on a manual clock', () => {
  const make = () => {
    let now = 1_700_000_000_000;
    const leases = new MemoryLeaseStore(() => now);
    return { leases, advance: (ms: number) => (now += ms) };
  };

  it('a place lapses at its deadline, not before; asked again after that, the owner queues at the end', async () => {
    const { leases, advance } = make();
    const held = (await leases.acquire('k', 60_000, 'alice')) as number;
    await leases.queue('k', 60_000, 'bob', 1_000);
    await leases.queue('k', 60_000, 'carol', 60_000);
    advance(999);
    // bob renews just in time: still first.
    await leases.queue('k', 60_000, 'bob', 1_000);
    advance(999);
    await leases.release('k', held);
    expect(await leases.queue('k', 60_000, 'carol', 60_000)).toBeNull();
    expect(await leases.queue('k', 60_000, 'bob', 1_000)).not.toBeNull();
    const { leases: l2, advance: adv2 } = make();
    const h2 = (await l2.acquire('k', 60_000, 'alice')) as number;
    await l2.queue('k', 60_000, 'bob', 1_000);
    await l2.queue('k', 60_000, 'carol', 60_000);
    adv2(1_000);
    // bob's place lapsed: asking again puts him behind carol.
    expect(await l2.queue('k', 60_000, 'bob', 1_000)).toBeNull();
    await l2.release('k', h2);
    expect(await l2.queue('k', 60_000, 'bob', 1_000)).toBeNull();
    expect(await l2.queue('k', 60_000, 'carol', 60_000)).not.toBeNull();
  });

  it('a steal by an owner already first whose place lapsed keeps it first', async () => {
    const { leases, advance } = make();
    const held = (await leases.acquire('k', 60_000, 'alice')) as number;
    await leases.queue('k', 60_000, 'admin', 1_000);
    await leases.queue('k', 60_000, 'carol', 60_000);
    advance(5_000);
    expect(await leases.queue('k', 60_000, 'admin', 1_000, true)).toBeNull();
    await leases.release('k', held);
    expect(await leases.queue('k', 60_000, 'carol', 60_000)).toBeNull();
    expect(await leases.queue('k', 60_000, 'admin', 1_000)).not.toBeNull();
  });
});
