import { MemoryBroker } from '../../src/engine/memory-broker.js';
import { MemoryControlBus } from '../../src/engine/memory-control-bus.js';
import { createMemoryEngine } from '../../src/engine/memory-engine.js';
import { MemoryLimitStore } from '../../src/engine/memory-limit-store.js';
import { MemoryPresenceStore } from '../../src/engine/memory-presence.js';
import { describe, expect, it } from 'vitest';
import {
  describeBrokerConformance, describeControlBusConformance, describeLimitStoreConformance, describePresenceConformance,
} from './conformance.js';

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

describe('createMemoryEngine', () => {
  it('assembles the four memory implementations under the name memory', async () => {
    const engine = createMemoryEngine();
    expect(engine.name).toBe('memory');
    expect(engine.broker).toBeInstanceOf(MemoryBroker);
    expect(engine.presence).toBeInstanceOf(MemoryPresenceStore);
    expect(engine.control).toBeInstanceOf(MemoryControlBus);
    expect(engine.limits).toBeInstanceOf(MemoryLimitStore);
    await Promise.all([engine.broker.close(), engine.presence.close(), engine.control.close(), engine.limits.close()]);
  });
});
