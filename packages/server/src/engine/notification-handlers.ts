import type { NodeDownHandler, NotificationHandler } from './node-messages.js';

/** Reports a handler that threw or rejected; the other handlers still run. */
export type HandlerFailure = (err: unknown, what: string) => void;

/**
 * The handlers of one node's messages, by operation, and of node departures: what every
 * NodeMessages implementation dispatches to. A handler that throws does not stop the others.
 */
export class NotificationHandlers {
  readonly #byOp = new Map<string, Set<NotificationHandler>>();
  readonly #down = new Set<NodeDownHandler>();

  constructor(private readonly onFailure: HandlerFailure) {}

  add(op: string, handler: NotificationHandler): () => void {
    let set = this.#byOp.get(op);
    if (!set) {
      set = new Set();
      this.#byOp.set(op, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.#byOp.get(op) === set) this.#byOp.delete(op);
    };
  }

  addDown(handler: NodeDownHandler): () => void {
    this.#down.add(handler);
    return () => this.#down.delete(handler);
  }

  dispatch(op: string, data: unknown, from: string): void {
    const set = this.#byOp.get(op);
    if (!set) return;
    for (const handler of [...set]) this.#run(() => handler(data, from), op);
  }

  nodeDown(node: string): void {
    for (const handler of [...this.#down]) this.#run(() => handler(node), 'node down');
  }

  clear(): void {
    this.#byOp.clear();
    this.#down.clear();
  }

  #run(fn: () => void | Promise<void>, what: string): void {
    try {
      const result = fn();
      if (result instanceof Promise) result.catch((err: unknown) => this.onFailure(err, what));
    } catch (err) {
      this.onFailure(err, what);
    }
  }
}
