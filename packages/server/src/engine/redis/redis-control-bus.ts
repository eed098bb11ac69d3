import type { ControlBus, ControlCommand } from '../control-bus.js';
import type { RedisConnection } from './connection.js';

function isCommand(value: unknown): value is ControlCommand {
  if (!value || typeof value !== 'object') return false;
  const c = value as Record<string, unknown>;
  const base = typeof c['tenant'] === 'string' && typeof c['user'] === 'string' && typeof c['code'] === 'number' && typeof c['reason'] === 'string';
  if (c['kind'] === 'disconnect') return base && (c['client'] === undefined || typeof c['client'] === 'string');
  return c['kind'] === 'unsubscribe' && base && typeof c['channel'] === 'string';
}

/** Node-to-node commands over one Redis pub/sub topic; every node, this one included, handles each. */
export class RedisControlBus implements ControlBus {
  #handler: ((command: ControlCommand) => void) | null = null;

  private constructor(private readonly conn: RedisConnection) {}

  static async create(conn: RedisConnection): Promise<RedisControlBus> {
    const bus = new RedisControlBus(conn.retain());
    try {
      await conn.subscribe(conn.keys.controlTopic, (message) => bus.#receive(message), true);
    } catch (err) {
      // Not connected yet: the topic is routed, so it is subscribed on connect.
      conn.logger?.debug({ err }, 'control topic not subscribed yet');
    }
    return bus;
  }

  setHandler(handler: (command: ControlCommand) => void): void {
    this.#handler = handler;
  }

  async publish(command: ControlCommand): Promise<void> {
    await this.conn.track(this.conn.cmd.publish(this.conn.keys.controlTopic, JSON.stringify(command)));
  }

  async close(): Promise<void> {
    await this.conn.release();
  }

  #receive(message: string): void {
    let command: unknown;
    try {
      command = JSON.parse(message);
    } catch {
      command = null;
    }
    if (!isCommand(command)) {
      this.conn.logger?.warn('ignored a malformed control command');
      return;
    }
    this.#handler?.(command);
  }
}
