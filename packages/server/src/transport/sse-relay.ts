import { randomBytes } from 'node:crypto';
import type { NodeMessages } from '../engine/node-messages.js';

/** What a POST carries to a session. */
export type Delivery =
  | { readonly kind: 'frames'; readonly text: string }
  /** An empty body: counted like a WebSocket ping. */
  | { readonly kind: 'ping' }
  /** The reader closes cleanly (`close=<code>`). */
  | { readonly kind: 'close' }
  /** The body was larger than `maxMessageBytes`: the session closes with 1009. */
  | { readonly kind: 'too-big' };

/** The HTTP answer to a POST, decided where the session lives. */
export type Outcome = 'delivered' | 'unknown' | 'foreign-origin' | 'too-big';

/** Delivers to a session of this node. */
export type Deliver = (session: string, origin: string | undefined, delivery: Delivery) => Outcome;

const POST_OP = 'kernel:sse-post';
const ACK_OP = 'kernel:sse-ack';
/** How long a POST waits for the session's node; then it is answered as an unknown session. */
const ACK_TIMEOUT_MS = 5_000;
/** POSTs waiting for other nodes at once; more are refused (forged ids must not pile up). */
const MAX_PENDING = 1_000;

interface PostMessage {
  session: string;
  origin: string | null;
  delivery: Delivery;
  ack: string;
}

/**
 * The fallback's sessions across nodes: a session id starts with its node's tag, and a POST
 * that reaches another node (a load balancer without affinity) is relayed to the session's
 * node over the engine's node messages; the POST is answered once that node has handled it,
 * so the next POST of the reader (the SDK sends one at a time) cannot overtake it.
 */
export class SseRelay {
  /** This node's tag: the first part of the ids of its sessions. */
  readonly tag: string;
  readonly #pending = new Map<string, { resolve(outcome: Outcome): void; timer: NodeJS.Timeout }>();
  readonly #off: Array<() => void>;

  constructor(
    private readonly messages: NodeMessages,
    deliver: Deliver,
  ) {
    this.tag = Buffer.from(messages.nodeId).toString('base64url');
    this.#off = [
      messages.onNotification(POST_OP, (data, from) => {
        const m = data as PostMessage;
        const outcome = deliver(m.session, m.origin ?? undefined, m.delivery);
        return messages.notify(ACK_OP, { ack: m.ack, outcome }, from);
      }),
      messages.onNotification(ACK_OP, (data) => {
        const { ack, outcome } = data as { ack: string; outcome: Outcome };
        this.#settle(ack, outcome);
      }),
    ];
  }

  /** A new session id of this node. */
  newId(): string {
    return `${this.tag}.${randomBytes(18).toString('base64url')}`;
  }

  /** The node a session id names, or null when it is not an id of another node. */
  remoteNode(session: string): string | null {
    const dot = session.indexOf('.');
    if (dot <= 0) return null;
    const tag = session.slice(0, dot);
    if (tag === this.tag) return null;
    const node = Buffer.from(tag, 'base64url').toString('utf8');
    return node.length > 0 && Buffer.from(node).toString('base64url') === tag ? node : null;
  }

  /** Hand a POST to the session's node; resolves with its outcome, or 'unknown' if no node answers in time. */
  forward(node: string, session: string, origin: string | undefined, delivery: Delivery): Promise<Outcome> {
    if (this.#pending.size >= MAX_PENDING) return Promise.resolve('unknown');
    const ack = randomBytes(9).toString('base64url');
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#settle(ack, 'unknown'), ACK_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(ack, { resolve, timer });
      const message: PostMessage = { session, origin: origin ?? null, delivery, ack };
      this.messages.notify(POST_OP, message, node).catch(() => this.#settle(ack, 'unknown'));
    });
  }

  #settle(ack: string, outcome: Outcome): void {
    const waiting = this.#pending.get(ack);
    if (!waiting) return;
    this.#pending.delete(ack);
    clearTimeout(waiting.timer);
    waiting.resolve(outcome);
  }

  close(): void {
    for (const off of this.#off) off();
    for (const ack of [...this.#pending.keys()]) this.#settle(ack, 'unknown');
  }
}
