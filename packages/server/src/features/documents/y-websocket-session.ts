import { type DisconnectInfo, DocumentCloseCode } from '@switchboard/protocol';
import { validUntil } from '../../auth/token-verifier.js';
import type { EndpointConnection, EndpointRequest, EndpointSession } from '../../core/endpoint.js';
import type { TimerHandle, TimerWheel } from '../../core/timer-wheel.js';
import { authenticate, type ConnectionCloser, type Dialect, DocumentBinding, type DocumentsRuntime, FloodGuard, OpenRefused } from './binding.js';
import type { DocumentPeer } from './live-document.js';
import { Y_KEEPALIVE } from './y-websocket-codec.js';

/** y-websocket's sync: step 2 alone answers a state vector; a read-only writer is told once. One object for every session. */
const Y_DIALECT: Dialect = Object.freeze({ step1AfterStep2: false, tellReadOnly: true });

const expireSession = (s: YWebsocketSession): void => s.closeConnection(DocumentCloseCode.Unauthorized, 'token expired');

/** A token offered as a WebSocket subprotocol, for apps that keep tokens out of URLs: `token.<jwt>`. */
export const TOKEN_PROTOCOL_PREFIX = 'token.';

/** The subprotocol to agree on: the first one offered that is not a token, else the token itself (a browser needs one echoed). */
export function chooseProtocol(offered: ReadonlySet<string>): string | false {
  let token: string | false = false;
  for (const p of offered) {
    if (!p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p;
    token ||= p;
  }
  return token;
}

/** The token of an upgrade request: the `token` query parameter (what y-websocket's `params` send), else a `token.<jwt>` subprotocol. */
export function requestToken(request: EndpointRequest): string | undefined {
  const fromQuery = request.query.get('token');
  if (fromQuery) return fromQuery;
  const header = request.headers['sec-websocket-protocol'];
  for (const p of (typeof header === 'string' ? header : '').split(',')) {
    const name = p.trim();
    if (name.startsWith(TOKEN_PROTOCOL_PREFIX)) return name.slice(TOKEN_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/**
 * One y-websocket provider's connection: one document, named by the URL path after
 * `/documents/`. The token is checked and the document opened while early messages wait;
 * then the y-websocket server's sync runs: the server sends its state vector and the
 * awareness states, answers a state vector with what the provider lacks, and applies,
 * stores and relays the provider's updates. y-websocket has no error reply: a read-only
 * provider is told once with y-protocols' "permission denied", and a refusal is a close.
 */
export class YWebsocketSession implements EndpointSession, DocumentPeer, ConnectionCloser {
  readonly id: string;
  readonly #binding: DocumentBinding;
  #expiry: TimerHandle | null = null;
  #closed = false;

  constructor(
    private readonly conn: EndpointConnection,
    request: EndpointRequest,
    private readonly rt: DocumentsRuntime,
  ) {
    this.id = conn.id;
    this.#binding = new DocumentBinding(rt, this, Y_DIALECT, this, conn.meta.ip, new FloodGuard(rt.config.messagesPerSecond));
    void this.#start(requestToken(request), request.subpath);
  }

  send(message: Buffer): void {
    this.conn.send(message, true);
  }

  end(info: DisconnectInfo): void {
    this.#close(info);
  }

  async #start(token: string | undefined, name: string): Promise<void> {
    const { node } = this.rt;
    try {
      const identity = await authenticate(node, token, this.conn.meta.ip);
      if (this.#closed) return;
      await this.#binding.open(identity, name);
      if (this.#closed) return;
      this.#expiry = expiryTimer(this.rt.timers, validUntil(identity, node.config.auth.clockSkew) - node.now(), expireSession, this);
    } catch (err) {
      if (!(err instanceof OpenRefused)) throw err;
      this.#close(err.info, err.detail);
      return;
    }
    for (const m of this.#binding.greeting(true)) this.send(m);
    this.rt.keepAlive.add(this.conn, Y_KEEPALIVE);
    this.#binding.drain();
  }

  message(data: Buffer, binary: boolean): void {
    if (this.#closed) return;
    if (!binary) this.#close(DocumentCloseCode.InvalidUpdate, 'text message');
    else this.#binding.handle(data);
  }

  closeConnection(info: DisconnectInfo, detail?: string): void {
    this.#close(info, detail);
  }

  #close(info: DisconnectInfo, detail?: string): void {
    this.conn.close(info.code, detail ? `${info.reason}: ${detail}` : info.reason);
    this.closed();
  }

  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#expiry?.cancel();
    this.rt.keepAlive.remove(this.conn);
    this.#binding.release();
  }
}

/**
 * A deadline on the documents' wheel (precision: its tick) that runs `expire` (with `arg`) when a
 * token expires (none for a token that never does).
 */
export function expiryTimer(wheel: TimerWheel, ms: number, expire: () => void): TimerHandle | null;
export function expiryTimer<A>(wheel: TimerWheel, ms: number, expire: (arg: A) => void, arg: A): TimerHandle | null;
export function expiryTimer<A>(wheel: TimerWheel, ms: number, expire: (arg: A) => void, arg?: A): TimerHandle | null {
  if (!Number.isFinite(ms)) return null;
  return wheel.schedule(Math.max(0, ms), expire, arg as A);
}
