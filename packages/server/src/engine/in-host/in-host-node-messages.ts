import type { NodeDownHandler, NodeMessages, NotificationHandler } from '../node-messages.js';
import { type HandlerFailure, NotificationHandlers } from '../notification-handlers.js';
import type { InHostConnection } from './connection.js';

/**
 * A worker's node messages: the host passes each on to every worker (or the one named), in
 * the order each sender sent them, and tells the survivors when a worker's connection closes.
 */
export class InHostNodeMessages implements NodeMessages {
  readonly nodeId: string;
  readonly alone = false;
  readonly #conn: InHostConnection;
  readonly #handlers: NotificationHandlers;

  constructor(conn: InHostConnection, onFailure: HandlerFailure = () => {}) {
    this.#conn = conn.retain();
    this.nodeId = conn.nodeId;
    this.#handlers = new NotificationHandlers(onFailure);
    conn.onPush((push) => {
      if (push.p === 'note') this.#handlers.dispatch(push.o, push.d, push.f);
      else if (push.p === 'down' && push.n !== this.nodeId) this.#handlers.nodeDown(push.n);
    });
  }

  notify(op: string, data: unknown, toNode?: string): Promise<void> {
    return this.#conn.request('notify', [op, data ?? null, toNode ?? null]);
  }

  onNotification(op: string, handler: NotificationHandler): () => void {
    return this.#handlers.add(op, handler);
  }

  onNodeDown(handler: NodeDownHandler): () => void {
    return this.#handlers.addDown(handler);
  }

  async close(): Promise<void> {
    this.#handlers.clear();
    await this.#conn.release();
  }
}
