/**
 * Node-to-node messages for features: a feature names its operations (`locks.release`),
 * sends a JSON value to every node or to one, and learns when a node is gone, so features
 * that span nodes (lock release when a node dies, document replay, one webhook runner per
 * message) never edit engine code.
 *
 * Delivery is at most once and in order from one sender: a node cut off from the engine
 * misses what was sent meanwhile. What must not be lost is stored (a lease, a database row)
 * and the message is only the nudge.
 */

/** Handles one operation's messages: `data` as sent (a JSON value), `from` the sending node's id. */
export type NotificationHandler = (data: unknown, from: string) => void | Promise<void>;

/** Told the id of a node that left: shut down, or dead past the presence TTL. */
export type NodeDownHandler = (node: string) => void | Promise<void>;

export interface NodeMessages {
  /** This node's id: `from` in the messages it sends, and what `onNodeDown` names when it is gone. */
  readonly nodeId: string;
  /**
   * True when no other node can ever hear this node's messages (the one-process engine): a
   * message meant only for the other nodes need not be built at all.
   */
  readonly alone: boolean;
  /**
   * Send `data` (a JSON value; `undefined` travels as null) to `op`'s handlers on every node,
   * this one included, or only on `toNode`. Resolves once handed to the engine, not when handled.
   */
  notify(op: string, data: unknown, toNode?: string): Promise<void>;
  /** Handle `op` on this node (several handlers run in registration order); returns the unsubscribe. */
  onNotification(op: string, handler: NotificationHandler): () => void;
  /**
   * Called on every surviving node, once per departed node: after a clean shutdown, or when
   * a node stops refreshing its registration (crash, kill -9, network cut), when that
   * registration expires: within the presence TTL of its last heartbeat. Work that must
   * happen once per dead node takes a lease named after it. Returns the unsubscribe.
   */
  onNodeDown(handler: NodeDownHandler): () => void;
  close(): Promise<void>;
}
