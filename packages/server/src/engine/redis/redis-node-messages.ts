import type { NodeDownHandler, NodeMessages, NotificationHandler } from '../node-messages.js';
import { NotificationHandlers } from '../notification-handlers.js';
import { publishInOrder } from './channel-event.js';
import type { RedisConnection } from './connection.js';
import type { NodeRegistry } from './node-registry.js';

/** A feature's message between nodes. */
interface Note {
  op: string;
  from: string;
  data: unknown;
}

/** A node left: swept by a survivor after its registration expired, or shut down cleanly. */
interface Down {
  down: string;
  from: string;
}

/** Departed nodes remembered so a repeated sweep announces each once (bounded). */
const REMEMBERED_DOWN = 1024;

const isString = (v: unknown): v is string => typeof v === 'string';

function parse(message: string): Note | Down | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const m = value as Record<string, unknown>;
  if (!isString(m['from'])) return null;
  if (isString(m['op']) && 'data' in m) return m as unknown as Note;
  if (isString(m['down'])) return m as unknown as Down;
  return null;
}

/**
 * Node messages over Redis pub/sub: one topic every node listens on (broadcasts and node
 * departures) and one per node (messages to that node). A dead node is announced by the
 * survivor that sweeps it (node-registry.ts), after its presence and connection slots are
 * gone; if that announcement fails the sweep fails and the next heartbeat retries it.
 */
export class RedisNodeMessages implements NodeMessages {
  readonly #handlers: NotificationHandlers;
  /** Departures already announced here, by node, with when: a sweep retried within the window is not a second death. */
  readonly #down = new Map<string, number>();
  readonly #window: number;
  #closed = false;

  private constructor(
    private readonly conn: RedisConnection,
    registry: NodeRegistry,
  ) {
    // A sweep lock lasts twice the TTL: a retried sweep of the same death comes within it.
    this.#window = registry.ttl * 2;
    this.#handlers = new NotificationHandlers((err, what) => conn.logger?.warn({ err, op: what }, 'node message handler failed'));
  }

  static async create(conn: RedisConnection, registry: NodeRegistry): Promise<RedisNodeMessages> {
    const messages = new RedisNodeMessages(conn.retain(), registry);
    const { keys, nodeId } = conn;
    for (const topic of [keys.notesTopic, keys.nodeNotes(nodeId)]) {
      // Not connected yet: the topic stays routed, so it is subscribed on connect.
      await conn
        .subscribe(topic, (message) => messages.#receive(message), true)
        .catch((err) => conn.logger?.debug({ err, topic }, 'node message topic not subscribed yet'));
    }
    registry.addHooks({ sweep: (dead) => messages.#announceDown(dead) });
    return messages;
  }

  readonly alone = false;

  get nodeId(): string {
    return this.conn.nodeId;
  }

  async notify(op: string, data: unknown, toNode?: string): Promise<void> {
    const { keys, nodeId } = this.conn;
    const note: Note = { op, from: nodeId, data: data ?? null };
    const topic = toNode === undefined ? keys.notesTopic : keys.nodeNotes(toNode);
    await publishInOrder(this.conn, topic, topic, JSON.stringify(note));
  }

  onNotification(op: string, handler: NotificationHandler): () => void {
    return this.#handlers.add(op, handler);
  }

  onNodeDown(handler: NodeDownHandler): () => void {
    return this.#handlers.addDown(handler);
  }

  /** Tell the others this node leaves, then stop listening. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    if (this.conn.ready())
      await this.#announceDown(this.conn.nodeId).catch((err) => this.conn.logger?.debug({ err }, "announcing this node's shutdown failed"));
    await this.conn.release();
  }

  async #announceDown(node: string): Promise<void> {
    const down: Down = { down: node, from: this.conn.nodeId };
    await publishInOrder(this.conn, this.conn.keys.notesTopic, this.conn.keys.notesTopic, JSON.stringify(down));
  }

  #receive(message: string): void {
    const m = parse(message);
    if (!m) {
      this.conn.logger?.warn('ignored a malformed node message');
      return;
    }
    if ('op' in m) {
      this.#handlers.dispatch(m.op, m.data, m.from);
      return;
    }
    if (m.down === this.conn.nodeId) return;
    const now = Date.now();
    const seen = this.#down.get(m.down);
    if (seen !== undefined && now - seen < this.#window) return;
    this.#down.delete(m.down);
    this.#down.set(m.down, now);
    if (this.#down.size > REMEMBERED_DOWN) this.#down.delete(this.#down.keys().next().value as string);
    this.#handlers.nodeDown(m.down);
  }
}
