import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ConnectionMeta } from '../core/connection.js';
import type { Endpoint, EndpointRequest } from '../core/endpoint.js';
import type { Node } from '../core/node.js';
import { createError } from '../errors/sb-error.js';
import { acceptEndpoint } from './endpoint-connection.js';
import { acceptKernel, KERNEL_PATH, kernelSubprotocol } from './kernel-endpoint.js';
import { originAllowed } from './origin.js';
import { FrameCache } from './ws-frames.js';

function reject(socket: Duplex, status: number, text: string, extra = ''): void {
  if (socket.destroyed) return;
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** One path the transport upgrades: its `ws` server (subprotocols, size limit) and what takes an accepted socket. */
interface Route {
  readonly wss: WebSocketServer;
  accept(ws: WebSocket, req: IncomingMessage, meta: ConnectionMeta): void;
}

/** The named headers of a request (a small object of its own: the request is not kept alive by it). */
function pickHeaders(req: IncomingMessage, names: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/**
 * Accepts WebSocket upgrades and routes them by path: `/ws` to the node as a kernel Client,
 * other paths to the endpoints features declare. Every path gets the same checks before the
 * upgrade (Host, Origin, draining, new connections per IP), answered with an HTTP status so a
 * refused client never gets a WebSocket; an unknown path is 404.
 */
const ORIGIN_HINT = 'add it to allowedOrigins (--allowed-origins / SWITCHBOARD_ALLOWED_ORIGINS)';
/** A refused Origin is logged at most this often (each refusal is counted). */
const ORIGIN_LOG_INTERVAL = 60_000;

export class WebSocketTransport {
  readonly #originLogged = new Map<string, number>();
  readonly #routes = new Map<string, Route>();
  /** One shared listener: a closure here would keep each connection's upgrade request alive. */
  readonly #onSocketError = (err: Error): void => this.node.logger.debug({ err }, 'upgrade socket error');
  readonly #frames = new FrameCache();

  constructor(
    private readonly node: Node,
    endpoints: readonly Endpoint[] = [],
    /** Upgrade-request headers (lower-case names) kept in each connection's meta: the ones features read. */
    private readonly keepHeaders: readonly string[] = [],
  ) {
    const frames = this.#frames;
    this.#routes.set(KERNEL_PATH, {
      wss: this.#server(kernelSubprotocol, node.config.limits.maxMessageBytes),
      accept: (ws, _req, meta) => acceptKernel(node, ws, frames, meta),
    });
    for (const endpoint of endpoints) this.#add(endpoint);
  }

  #add(endpoint: Endpoint): void {
    const { path } = endpoint;
    if (!PATH.test(path)) throw createError('SB_ERR_FEATURE_MANIFEST', `endpoint path "${path}" is not an absolute URL path`);
    if (this.#routes.has(path)) throw createError('SB_ERR_FEATURE_MANIFEST', `endpoint path "${path}" is taken`);
    const protocols = endpoint.subprotocols ?? [];
    const select = typeof protocols === 'function' ? protocols : (offered: ReadonlySet<string>) => protocols.find((p) => offered.has(p)) ?? false;
    const node = this.node;
    const frames = this.#frames;
    this.#routes.set(path, {
      wss: this.#server(select, endpoint.maxMessageBytes ?? node.config.limits.maxMessageBytes),
      accept: (ws, req, meta) => acceptEndpoint(node, endpoint, ws, frames, meta, endpointRequest(req, ws)),
    });
  }

  #server(select: (offered: ReadonlySet<string>) => string | false, maxPayload: number): WebSocketServer {
    return new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload,
      skipUTF8Validation: false,
      handleProtocols: (offered) => select(offered),
    });
  }

  /** The paths upgraded here, the kernel's first. */
  get paths(): string[] {
    return [...this.#routes.keys()];
  }

  /** Listen for upgrades on an HTTP server (the standalone one, or the application's own). */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Before anything is written: a peer that resets the socket must not crash the process.
      socket.on('error', this.#onSocketError);
      if (!this.handleUpgrade(req, socket, head)) reject(socket, 404, 'Not Found');
    });
  }

  /** Handle an upgrade request; false when the path is not ours (another handler may take it). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const route = this.#routes.get((req.url ?? '').split('?')[0] as string);
    if (!route) return false;
    if (!socket.listeners('error').includes(this.#onSocketError)) socket.on('error', this.#onSocketError);
    const { config } = this.node;
    if (!req.headers.host) {
      reject(socket, 400, 'Bad Request');
      return true;
    }
    const origin = req.headers.origin;
    if (!originAllowed(origin, config.allowedOrigins, config.development)) {
      this.#originRefused(origin as string);
      reject(socket, 403, 'Forbidden');
      return true;
    }
    if (this.node.draining) {
      reject(socket, 503, 'Service Unavailable', 'Retry-After: 2\r\n');
      return true;
    }
    const ip = req.socket.remoteAddress ?? 'unknown';
    const rate = config.limits.newConnectionsPerIpPerSecond;
    this.node.engine.limits.take(`ip|${ip}`, rate, rate * 2).then(
      (ok) => {
        if (!ok) {
          this.node.stats.drop('ip_rate');
          reject(socket, 429, 'Too Many Requests', 'Retry-After: 1\r\n');
          return;
        }
        if (socket.destroyed) return;
        const userAgent = req.headers['user-agent'];
        const meta: ConnectionMeta = {
          ip,
          ...(origin !== undefined ? { origin } : {}),
          ...(userAgent !== undefined ? { userAgent } : {}),
          ...(this.keepHeaders.length > 0 ? { headers: pickHeaders(req, this.keepHeaders) } : {}),
        };
        route.wss.handleUpgrade(req, socket, head, (ws) => route.accept(ws, req, meta));
      },
      (err) => {
        this.node.logger.warn({ err }, 'connection rate check failed');
        reject(socket, 503, 'Service Unavailable');
      },
    );
    return true;
  }

  close(): void {
    for (const route of this.#routes.values()) route.wss.close();
  }

  /**
   * What an upgrade from this Origin would meet, for a plain GET on a WebSocket path: a
   * browser cannot read why its upgrade failed (it sees 1006), so the SDK asks here.
   */
  probe(origin: string | undefined): { websocket: 'ok' | 'origin-refused' | 'draining'; origin?: string; hint?: string } {
    const { config } = this.node;
    if (!originAllowed(origin, config.allowedOrigins, config.development)) {
      return { websocket: 'origin-refused', origin: origin as string, hint: ORIGIN_HINT };
    }
    return { websocket: this.node.draining ? 'draining' : 'ok' };
  }

  /** Count every refused Origin; log each one at most once a minute, saying how to allow it. */
  #originRefused(origin: string): void {
    this.node.stats.drop('forbidden_origin');
    const now = Date.now();
    const last = this.#originLogged.get(origin);
    if (last !== undefined && now - last < ORIGIN_LOG_INTERVAL) return;
    if (this.#originLogged.size >= 1000) this.#originLogged.clear();
    this.#originLogged.set(origin, now);
    this.node.logger.warn({ origin }, `WebSocket refused: Origin not allowed; ${ORIGIN_HINT}`);
  }
}

function endpointRequest(req: IncomingMessage, ws: WebSocket): EndpointRequest {
  const url = req.url ?? '/';
  const at = url.indexOf('?');
  return { url, query: new URLSearchParams(at === -1 ? '' : url.slice(at + 1)), headers: req.headers, protocol: ws.protocol };
}
