import type { Broker } from './broker.js';
import type { ControlBus } from './control-bus.js';
import type { LeaseStore } from './lease-store.js';
import type { LimitStore } from './limit-store.js';
import type { NodeMessages } from './node-messages.js';
import type { PresenceStore } from './presence-store.js';

/** The engine a node runs on: memory (one process) or a shared store (several nodes). */
export interface Engine {
  readonly name: string;
  broker: Broker;
  presence: PresenceStore;
  control: ControlBus;
  limits: LimitStore;
  /** Features' node-to-node messages and node departures. */
  messages: NodeMessages;
  /** Features' leases with fencing tokens. */
  leases: LeaseStore;
}
