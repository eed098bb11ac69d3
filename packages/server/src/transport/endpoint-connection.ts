import { randomBytes } from 'node:crypto';
import { DisconnectCode, type DisconnectInfo } from '@switchboard/protocol';
import type { WebSocket } from 'ws';
import type { ConnectionMeta } from '../core/connection.js';
import type { Endpoint, EndpointConnection, EndpointRequest, EndpointSession } from '../core/endpoint.js';
import type { Node } from '../core/node.js';
import type { TimerHandle } from '../core/timer-wheel.js';
import { type Framers, WsConnection } from './ws-connection.js';

/** RFC 6455 §7.4.1: the endpoint received data of a type it cannot accept. */
const UNSUPPORTED_DATA = 1003;
/** RFC 6455 §7.4.1: the server met an unexpected condition. */
const INTERNAL_ERROR = 1011;
const MAX_REASON_BYTES = 123;

const EMPTY_SESSION: EndpointSession = { message() {} };
const onHandshakeTimeout = (c: WsEndpointConnection): void => c.closeWith(DisconnectCode.Stale);

/** The endpoint connection on its socket: the socket's listeners are shared functions, not closures per connection. */
const OWNER = Symbol('endpointConnection');
type Owned = WebSocket & { [OWNER]: WsEndpointConnection };

/**
 * One connection of a feature's endpoint: the transport's deadline for the first message,
 * the binary check, the node's connection count and drain, and frame-once sending, around
 * the endpoint's session.
 */
class WsEndpointConnection implements EndpointConnection {
  readonly id = randomBytes(9).toString('base64url');
  readonly #conn: WsConnection;
  #session: EndpointSession = EMPTY_SESSION;
  #deadline: TimerHandle | null;
  #corked = false;
  #closed = false;

  constructor(
    private readonly node: Node,
    private readonly endpoint: Endpoint,
    ws: WebSocket,
    frames: Framers,
    readonly meta: ConnectionMeta,
  ) {
    this.#conn = new WsConnection(ws, frames, node.wheel);
    this.#deadline = node.wheel.schedule(node.config.timeouts.handshake, onHandshakeTimeout, this);
    node.trackEndpointConnection(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(request: EndpointRequest): void {
    const ws = this.#conn.ws as Owned;
    ws[OWNER] = this;
    ws.on('message', onSocketMessage);
    ws.on('error', onSocketError);
    ws.on('close', onSocketClose);
    try {
      this.#session = this.endpoint.open(this, request);
    } catch (err) {
      this.node.logger.error({ err, path: this.endpoint.path }, 'endpoint open failed');
      this.closeWith(DisconnectCode.ServerError);
    }
  }

  send(payload: Buffer, binary: boolean): void {
    if (this.#closed) return;
    // The kernel's rule for a consumer too slow for what it is sent: close it rather than buffer forever.
    if (this.#conn.bufferedAmount() >= this.node.config.limits.queueMaxBytes) {
      this.node.stats.drop('slow_consumer');
      this.closeWith(DisconnectCode.SlowConsumer);
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      this.#conn.cork();
      process.nextTick(WsEndpointConnection.#uncork, this);
    }
    this.node.stats.messagesOut++;
    this.node.stats.bytesOut += payload.length;
    this.#conn.sendOne(payload, binary);
  }

  static #uncork(c: WsEndpointConnection): void {
    c.#corked = false;
    c.#conn.uncork();
  }

  close(code: number, reason = ''): void {
    if (this.#closed) return;
    this.#closed = true;
    this.node.stats.disconnect(code);
    this.#conn.close(code, Buffer.byteLength(reason) > MAX_REASON_BYTES ? '' : reason);
  }

  closeWith(info: DisconnectInfo, detail?: string): void {
    this.close(info.code, detail ? `${info.reason}: ${detail}` : info.reason);
  }

  socketError(err: Error): void {
    this.node.logger.debug({ err, path: this.endpoint.path }, 'websocket error');
  }

  bufferedAmount(): number {
    return this.#conn.bufferedAmount();
  }

  drained(): Promise<void> {
    return this.#conn.drained();
  }

  /** A message from the socket. */
  received(data: Buffer, binary: boolean): void {
    if (this.#closed) return;
    this.#deadline?.cancel();
    this.#deadline = null;
    this.node.stats.messagesIn++;
    this.node.stats.bytesIn += data.length;
    if (binary && !this.endpoint.binary) {
      this.close(UNSUPPORTED_DATA, 'binary messages are not accepted');
      return;
    }
    try {
      this.#session.message(data, binary);
    } catch (err) {
      this.node.logger.error({ err, path: this.endpoint.path }, 'endpoint message handling failed');
      this.close(INTERNAL_ERROR);
    }
  }

  /** The socket closed. */
  ended(code: number, reason: string): void {
    this.#closed = true;
    this.#deadline?.cancel();
    this.#deadline = null;
    this.node.trackEndpointConnection(this, false);
    try {
      this.#session.closed?.(code, reason);
    } catch (err) {
      this.node.logger.warn({ err, path: this.endpoint.path }, 'endpoint close handling failed');
    }
  }
}

// The socket's listeners, one function each for every connection (`this` is the socket).
function onSocketMessage(this: WebSocket, data: Buffer, binary: boolean): void {
  (this as Owned)[OWNER].received(data, binary);
}

function onSocketError(this: WebSocket, err: Error): void {
  (this as Owned)[OWNER].socketError(err);
}

function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as Owned)[OWNER].ended(code, reason.toString('utf8'));
}

/** Hand an accepted socket to a feature's endpoint. */
export function acceptEndpoint(node: Node, endpoint: Endpoint, ws: WebSocket, frames: Framers, meta: ConnectionMeta, request: EndpointRequest): void {
  new WsEndpointConnection(node, endpoint, ws, frames, meta).start(request);
}
