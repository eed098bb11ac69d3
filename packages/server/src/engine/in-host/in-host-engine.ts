import type { Logger } from 'pino';
import type { Engine } from '../engine.js';
import { InHostConnection, type InHostConnectionOptions } from './connection.js';
import { InHostBroker } from './in-host-broker.js';
import { InHostControlBus } from './in-host-control-bus.js';
import { InHostLeaseStore } from './in-host-lease-store.js';
import { InHostLimitStore } from './in-host-limit-store.js';
import { InHostNodeMessages } from './in-host-node-messages.js';
import { InHostPresenceStore } from './in-host-presence.js';

export interface InHostEngineOptions extends InHostConnectionOptions {
  logger?: Logger;
}

/**
 * The engine of one worker among the processes of one host: every part talks to the host
 * (`InHostEngineHost`, in the primary process) over one Unix socket, so offsets, history,
 * presence, limits, node messages and leases are exact across workers, as on one node.
 * Resolves once connected, or after `connectWait` while the host is still away (not ready).
 */
export async function createInHostEngine(options: InHostEngineOptions): Promise<Engine> {
  const conn = await InHostConnection.open(options);
  conn.retain();
  const onFailure = (err: unknown, what: string) => options.logger?.warn({ err, what }, 'node message handler failed');
  const engine: Engine = {
    name: 'in-host',
    broker: new InHostBroker(conn),
    presence: new InHostPresenceStore(conn),
    control: new InHostControlBus(conn),
    limits: new InHostLimitStore(conn),
    messages: new InHostNodeMessages(conn, onFailure),
    leases: new InHostLeaseStore(conn),
  };
  // The parts hold the connection now.
  await conn.release();
  return engine;
}
