import type { Engine } from '../engine/engine.js';
import type { RatesView } from './context.js';

/** Buckets of the engine's limit store for features, under names of their own (`r|…`), apart from the kernel's. */
export function engineRates(engine: Pick<Engine, 'limits' | 'name'>): RatesView {
  const { limits } = engine;
  return {
    take: (bucket, ratePerSecond, burst, cost) => limits.take(`r|${bucket}`, ratePerSecond, burst, cost),
    takeOrWait: (bucket, ratePerSecond, burst, cost) => limits.takeOrWait(`r|${bucket}`, ratePerSecond, burst, cost),
    shared: engine.name !== 'memory',
  };
}
