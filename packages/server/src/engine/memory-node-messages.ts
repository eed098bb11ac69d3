import { randomBytes } from 'node:crypto';
import type { NodeDownHandler, NodeMessages, NotificationHandler } from './node-messages.js';
import { type HandlerFailure, NotificationHandlers } from './notification-handlers.js';

/**
 * One-process node messages: this node is the only one, so a broadcast reaches its own
 * handlers and no node ever goes down. Data is copied through JSON, as it is between nodes.
 */
export class MemoryNodeMessages implements NodeMessages {
  readonly nodeId: string;
  readonly alone: boolean = true;
  readonly #handlers: NotificationHandlers;

  constructor(nodeId = `memory-${randomBytes(4).toString('hex')}`, onFailure: HandlerFailure = () => {}) {
    this.nodeId = nodeId;
    this.#handlers = new NotificationHandlers(onFailure);
  }

  async notify(op: string, data: unknown, toNode?: string): Promise<void> {
    if (toNode !== undefined && toNode !== this.nodeId) return;
    this.#handlers.dispatch(op, JSON.parse(JSON.stringify(data ?? null)) as unknown, this.nodeId);
  }

  onNotification(op: string, handler: NotificationHandler): () => void {
    return this.#handlers.add(op, handler);
  }

  onNodeDown(handler: NodeDownHandler): () => void {
    return this.#handlers.addDown(handler);
  }

  async close(): Promise<void> {
    this.#handlers.clear();
  }
}
