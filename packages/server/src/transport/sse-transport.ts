import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { DisconnectCode, ErrorCode, type ErrorCodeInfo } from '@switchboard/protocol';
import type { Client } from '../core/client.js';
import type { Node } from '../core/node.js';
import type { Admission } from './admission.js';
import { KERNEL_PATH } from './kernel-endpoint.js';
import { EventCache, namedEvent, SseConnection } from './sse-connection.js';
import { type Delivery, type Outcome, SseRelay } from './sse-relay.js';

/** The fallback's path: the kernel's, with `/sse` appended. */
export const FALLBACK_PATH = `${KERNEL_PATH}/sse`;

/** Interval of the keepalive comment on every stream, so proxies do not cut idle responses. */
const KEEPALIVE_MS = 15_000;
/** RFC 6455 §7.4.1: a message too big to process (what a WebSocket gets for an oversized frame). */
const MESSAGE_TOO_BIG = 1009;
/** RFC 6455: a normal closure (what a reader's close stands for). */
const NORMAL_CLOSURE = 1000;

/** POSTs of one session being read at once; the SDK sends one at a time. */
const MAX_POSTS_IN_FLIGHT = 4;

/** The reply error in the JSON body of a refused stream, by HTTP status. */
const REFUSAL_ERRORS: Readonly<Record<number, ErrorCodeInfo>> = {
  403: ErrorCode.PermissionDenied,
  429: ErrorCode.TooManyRequests,
  503: ErrorCode.Unavailable,
};

/** One open stream: its Client, and the Origin its POSTs must come from. */
interface Session {
  readonly client: Client;
  readonly conn: SseConnection;
  readonly origin: string | undefined;
}

function sendJson(res: ServerResponse, status: number, error: ErrorCodeInfo, detail: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ error: { code: error.code, message: `${error.message}: ${detail}`, temporary: error.temporary } });
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The origin a session is bound to: a request's `Origin`, except the server's own (the page is
 * served by this server: same origin), which counts as none. A browser sends no Origin on a
 * same-origin GET (the stream) but does on a POST, so both must compare equal.
 */
function sessionOrigin(origin: string | undefined, host: string | undefined): string | undefined {
  if (origin === undefined || host === undefined) return origin;
  try {
    return new URL(origin).host === host.toLowerCase() ? undefined : origin;
  } catch {
    return origin;
  }
}

function corsHeaders(origin: string | undefined): Record<string, string> {
  return origin === undefined ? {} : { 'access-control-allow-origin': origin, vary: 'origin' };
}

/**
 * The fallback transport for networks that block WebSockets: a GET on `/ws/sse` opens a
 * Server-Sent Events stream carrying the same server messages as `/ws` (its first event names
 * the session), and `POST /ws/sse?session=…` carries the client's frames. A session is a
 * connection like any other for the node: the same admission checks, Client, handshake
 * deadline, limits, presence, recovery and drain.
 */
export class SseTransport {
  readonly #sessions = new Map<string, Session>();
  readonly #events = new EventCache();
  readonly #keepalive: NodeJS.Timeout;
  /** POSTs being read, by session id (a session of this node or of another). */
  readonly #posts = new Map<string, number>();
  readonly #relay: SseRelay;

  constructor(
    private readonly node: Node,
    private readonly admission: Admission,
  ) {
    this.#relay = new SseRelay(node.engine.messages, (id, origin, delivery) => this.#deliver(id, origin, delivery));
    this.#keepalive = setInterval(() => {
      for (const session of this.#sessions.values()) session.conn.keepalive();
    }, KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  /** Open streams. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Handle a request on the fallback path (the caller has taken the response over). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET') void this.#open(req, res);
    else if (req.method === 'POST') this.#post(req, res);
    else {
      res.writeHead(405, { allow: 'GET, POST', 'content-length': 0 });
      res.end();
    }
  }

  async #open(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const result = await this.admission.admit(req, 'Event stream');
    const cors = corsHeaders(req.headers.origin);
    if (!result.ok) {
      const { status, text, headers = {} } = result.refusal;
      sendJson(res, status, REFUSAL_ERRORS[status] ?? ErrorCode.BadRequest, text.toLowerCase(), { ...headers, ...cors });
      return;
    }
    const socket = req.socket as Socket;
    if (socket.destroyed || !socket.writable) return;
    const id = this.#relay.newId();
    // Straight to the socket, no chunked encoding: the stream is the rest of the connection.
    const head = Object.entries({
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      // nginx and others buffer responses unless told not to; a buffered stream delivers nothing.
      'x-accel-buffering': 'no',
      connection: 'close',
      ...cors,
    })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.setNoDelay(true);
    socket.write(`HTTP/1.1 200 OK\r\n${head}\r\n`);
    socket.write(namedEvent('session', { session: id }));
    const conn = new SseConnection(socket, this.#events, this.node.wheel);
    const client = this.node.accept(conn, result.meta);
    this.#sessions.set(id, { client, conn, origin: sessionOrigin(req.headers.origin, req.headers.host) });
    this.node.stats.fallbackSessions++;
    socket.once('close', () => {
      this.#sessions.delete(id);
      this.node.stats.fallbackSessions--;
      // The reader went away without a close event: what a WebSocket without a close frame is.
      if (!client.closed) client.connectionLost();
    });
  }

  #post(req: IncomingMessage, res: ServerResponse): void {
    const cors = corsHeaders(req.headers.origin);
    const origin = sessionOrigin(req.headers.origin, req.headers.host);
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const id = query.get('session') ?? '';
    const remote = this.#relay.remoteNode(id);
    // A session of this node is checked before its body is read; another node checks its own.
    if (remote === null) {
      const early = this.#check(id, origin);
      if (early !== 'delivered') {
        this.#answer(res, early, cors);
        req.resume();
        return;
      }
    }
    const send = (delivery: Delivery): Promise<Outcome> =>
      remote === null ? Promise.resolve(this.#deliver(id, origin, delivery)) : this.#relay.forward(remote, id, origin, delivery);
    if (query.has('close')) {
      req.resume();
      void send({ kind: 'close' }).then((outcome) => this.#answer(res, outcome, cors));
      return;
    }
    const inFlight = this.#posts.get(id) ?? 0;
    if (inFlight >= MAX_POSTS_IN_FLIGHT) {
      // Bodies are buffered until complete: parallel ones would multiply maxMessageBytes.
      this.node.stats.drop('sse_posts_in_flight');
      sendJson(res, 429, ErrorCode.TooManyRequests, `more than ${MAX_POSTS_IN_FLIGHT} POSTs in flight`, cors);
      req.resume();
      return;
    }
    this.#posts.set(id, inFlight + 1);
    let counted = true;
    const done = (): void => {
      if (!counted) return;
      counted = false;
      const n = (this.#posts.get(id) ?? 1) - 1;
      if (n > 0) this.#posts.set(id, n);
      else this.#posts.delete(id);
    };
    req.once('close', done);
    const max = this.node.config.limits.maxMessageBytes;
    const tooBig = (): void => {
      done();
      res.once('finish', () => req.socket.destroy());
      void send({ kind: 'too-big' }).then((outcome) => this.#answer(res, outcome === 'delivered' ? 'too-big' : outcome, cors, max));
    };
    if (Number(req.headers['content-length']) > max) {
      tooBig();
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      if (bytes > max) return;
      bytes += chunk.length;
      if (bytes > max) {
        chunks.length = 0;
        tooBig();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      done();
      if (bytes > max) return;
      const delivery: Delivery = bytes === 0 ? { kind: 'ping' } : { kind: 'frames', text: Buffer.concat(chunks, bytes).toString('utf8') };
      void send(delivery).then((outcome) => this.#answer(res, outcome, cors));
    });
  }

  /** Whether a POST may reach this node's session `id` from `origin`. */
  #check(id: string, origin: string | undefined): Outcome {
    const session = this.#sessions.get(id);
    if (!session || session.client.closed) return 'unknown';
    if (origin !== session.origin) return 'foreign-origin';
    return 'delivered';
  }

  /** Hand a POST to this node's session `id` (from this node's HTTP side, or relayed from another node). */
  #deliver(id: string, origin: string | undefined, delivery: Delivery): Outcome {
    const checked = this.#check(id, origin);
    const session = this.#sessions.get(id);
    if (checked !== 'delivered' || !session) return checked;
    const { client } = session;
    if (delivery.kind === 'close') {
      // The reader closes as a WebSocket client sends a close frame: a clean close, not a lost connection.
      client.cleanup(NORMAL_CLOSURE);
      // Nothing more goes to a reader that has left.
      session.conn.socket.destroy();
      return 'delivered';
    }
    if (delivery.kind === 'too-big') {
      client.close({ code: MESSAGE_TOO_BIG, reason: 'message too big' });
      return 'too-big';
    }
    try {
      // An empty body counts against the command rate like a WebSocket ping, so floods stop.
      if (delivery.kind === 'ping') client.handleTransportPing();
      else client.handleMessage(delivery.text);
    } catch (err) {
      this.node.logger.error({ err }, 'message handling failed');
      client.close(DisconnectCode.ServerError);
    }
    return 'delivered';
  }

  /** The HTTP answer to a POST. */
  #answer(res: ServerResponse, outcome: Outcome, cors: Record<string, string>, max = this.node.config.limits.maxMessageBytes): void {
    if (outcome === 'delivered') {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(204, { ...cors, 'cache-control': 'no-store' });
      res.end();
    } else if (outcome === 'unknown') {
      this.node.stats.drop('sse_unknown_session');
      sendJson(res, 404, ErrorCode.NotFound, 'unknown or expired session', cors);
    } else if (outcome === 'foreign-origin') {
      this.node.stats.drop('sse_foreign_session');
      sendJson(res, 403, ErrorCode.PermissionDenied, 'the session belongs to another origin', cors);
    } else {
      this.node.stats.drop('sse_too_big');
      sendJson(res, 413, ErrorCode.PayloadTooLarge, `body larger than ${max} bytes`, { ...cors, connection: 'close' });
    }
  }

  /** Stop the keepalive and the relay; the node's drain has already told every stream to close. */
  close(): void {
    clearInterval(this.#keepalive);
    this.#relay.close();
  }
}
