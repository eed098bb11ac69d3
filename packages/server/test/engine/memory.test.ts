import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/engine/memory-broker.js';
import { MemoryControlBus } from '../../src/engine/memory-control-bus.js';
import { createMemoryEngine } from '../../src/engine/memory-engine.js';
import { MemoryLeaseStore } from '../../src/engine/memory-lease-store.js';
import { MemoryLimitStore } from '../../src/engine/memory-limit-store.js';
import { MemoryNodeMessages } from '../../src/engine/memory-node-messages.js';
import { MemoryPresenceStore } from '../../src/engine/memory-presence.js';
import { describeBrokerConformance, describeControlBusConformance, describeLimitStoreConformance, describePresenceConformance } from './conformance.js';
import { describeLeaseStoreConformance } from './lease-conformance.js';
import { describeNodeMessagesConformance } from './node-messages-conformance.js';

describeBrokerConformance('memory', async () => {
  const broker = new MemoryBroker();
  return { broker, cleanup: () => broker.close() };
});

describePresenceConformance('memory', async () => {
  const presence = new MemoryPresenceStore();
  return { presence, cleanup: () => presence.close() };
});

describeControlBusConformance('memory', async () => {
  const control = new MemoryControlBus();
  return { control, cleanup: () => control.close() };
});

describeLimitStoreConformance('memory', async () => {
  const limits = new MemoryLimitStore();
  return { limits, cleanup: () => limits.close() };
});

describeNodeMessagesConformance('memory', async () => {
  const messages = new MemoryNodeMessages();
  return { messages, cleanup: () => messages.close() };
});

describeLeaseStoreConformance('memory', async () => {
  let leases = new MemoryLeaseStore();
  return {
    leases,
    cleanup: () => leases.close(),
    // A restarted process: a new store, nothing carried over.
    restart: async () => {
      await leases.close();
      leases = new MemoryLeaseStore();
      return leases;
    },
  };
});

describe('createMemoryEngine', () => {
  it('assembles the memory implementations under the name memory', async () => {
    const engine = createMemoryEngine();
    expect(engine.name).toBe('memory');
    expect(engine.broker).toBeInstanceOf(MemoryBroker);
    expect(engine.presence).toBeInstanceOf(MemoryPresenceStore);
    expect(engine.control).toBeInstanceOf(MemoryControlBus);
    expect(engine.limits).toBeInstanceOf(MemoryLimitStore);
    expect(engine.messages).toBeInstanceOf(MemoryNodeMessages);
    expect(engine.leases).toBeInstanceOf(MemoryLeaseStore);
    await Promise.all([
      engine.broker.close(),
      engine.presence.close(),
      engine.control.close(),
      engine.limits.close(),
      engine.messages.close(),
      engine.leases.close(),
    ]);
  });
});

describe('MemoryLeaseStore on a clock that moves between reads', () => {
  it('an owner put first in line stays first when the clock ticks while it is put there', async () => {
    // Every read of the clock is a millisecond later, as under load when a tick falls inside one call.
    let ms = 1_000_000;
    const leases = new MemoryLeaseStore(() => ms++);
    const key = 'doc:ticking';
    const first = (await leases.acquire(key, 60_000, 'alice')) as number;
    for (const owner of ['bob', 'carol']) expect(await leases.queue(key, 60_000, owner, 60_000)).toBeNull();
    expect(await leases.queue(key, 60_000, 'admin', 60_000, true)).toBeNull();
    expect(await leases.release(key, first)).toBe(true);
    expect(await leases.queue(key, 60_000, 'bob', 60_000)).toBeNull();
    expect(await leases.queue(key, 60_000, 'admin', 60_000)).not.toBeNull();
    await leases.close();
  });
});
