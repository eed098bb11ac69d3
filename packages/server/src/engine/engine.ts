import type { Broker } from './broker.js';
import type { ControlBus } from './control-bus.js';
import type { LimitStore } from './limit-store.js';
import type { PresenceStore } from './presence-store.js';

/** The engine a node runs on: memory (one process) or a shared store (several nodes). */
export interface Engine {
  readonly name: string;
  broker: Broker;
  presence: PresenceStore;
  control: ControlBus;
  limits: LimitStore;
}
