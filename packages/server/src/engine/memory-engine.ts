import type { Engine } from './engine.js';
import { MemoryBroker } from './memory-broker.js';
import { MemoryControlBus } from './memory-control-bus.js';
import { MemoryLeaseStore } from './memory-lease-store.js';
import { MemoryLimitStore } from './memory-limit-store.js';
import { MemoryNodeMessages } from './memory-node-messages.js';
import { MemoryPresenceStore } from './memory-presence.js';

/** The default engine: everything in this process. */
export function createMemoryEngine(now: () => number = Date.now, maxIdleStreams = 100_000): Engine {
  const limits = new MemoryLimitStore(now);
  return {
    name: 'memory',
    broker: new MemoryBroker(now, maxIdleStreams, limits),
    presence: new MemoryPresenceStore(),
    control: new MemoryControlBus(),
    limits,
    messages: new MemoryNodeMessages(),
    leases: new MemoryLeaseStore(now),
  };
}
