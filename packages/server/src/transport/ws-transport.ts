import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ConnectionMeta } from '../core/connection.js';
import type { Endpoint, EndpointRequest } from '../core/endpoint.js';
import type { Node } from '../core/node.js';
import { createError } from '../errors/sb-error.js';
import { Admission } from './admission.js';
import { negotiateDeflate } from './deflate-offer.js';
import { acceptEndpoint } from './endpoint-connection.js';
import { acceptKernel, KERNEL_PATH, kernelSubprotocol } from './kernel-endpoint.js';
import type { Framers } from './ws-connection.js';
import { DeflateFrames } from './ws-deflate.js';
import { SharedStreams } from './ws-deflate-streams.js';
import { FrameCache } from './ws-frames.js';

/**
 * `ws`'s permessage-deflate, for reading: it inflates what clients compress (bounded by
 * maxPayload on the inflated size: 1009) and answers the offer negotiateDeflate chose
 * (server_no_context_takeover only when that answer has it). Its own sender never compresses
 * (this server frames its messages itself).
 */
const INFLATE_ONLY = { clientNoContextTakeover: true, threshold: Number.MAX_SAFE_INTEGER } as const;
const EXTENSIONS = 'sec-websocket-extensions';

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
  /** permessage-deflate is negotiated on this path (the kernel's, with compression on). */
  readonly compress: boolean;
  /** `contextTakeover`: the socket negotiated compression and keeps its window between messages. */
  accept(ws: WebSocket, req: IncomingMessage, meta: ConnectionMeta, contextTakeover: boolean): void;
}

const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/**
 * Accepts WebSocket upgrades and routes them by path: `/ws` to the node as a kernel Client,
 * other paths to the endpoints features declare. Every path gets the same checks before the
 * upgrade (Host, Origin, draining, new connections per IP), answered with an HTTP status so a
 * refused client never gets a WebSocket; an unknown path is 404.
 */
export class WebSocketTransport {
  readonly #routes = new Map<string, Route>();
  /** Endpoints that take the paths below theirs, by their path. */
  readonly #parents = new Map<string, Route>();
  /** One shared listener: a closure here would keep each connection's upgrade request alive. */
  readonly #onSocketError = (err: Error): void => this.node.logger.debug({ err }, 'upgrade socket error');
  readonly #frames: Framers;
  /** The same without shared streams: for sockets that asked for server_no_context_takeover. */
  readonly #aloneFrames: Framers;
  /** Whether compression is offered with context takeover (shared streams are on). */
  readonly #contextTakeover: boolean;

  constructor(
    private readonly node: Node,
    endpoints: readonly Endpoint[] = [],
    /** Upgrade-request headers (lower-case names) kept in each connection's meta: the ones features read. */
    keepHeaders: readonly string[] = [],
    /** The checks before every upgrade, shared with the other transports. */
    readonly admission = new Admission(node, keepHeaders),
  ) {
    const { compression, compressionThreshold, compressionStreams } = node.config;
    const deflate = compression === 'on' ? new DeflateFrames(node.stats, compressionThreshold) : null;
    const streams = deflate !== null && compressionStreams > 0 ? new SharedStreams(node.stats, deflate, compressionStreams) : null;
    this.#frames = { plain: new FrameCache(), deflate, streams };
    this.#aloneFrames = { ...this.#frames, streams: null };
    const frames = this.#frames;
    const aloneFrames = this.#aloneFrames;
    const compress = deflate !== null;
    this.#contextTakeover = streams !== null;
    this.#routes.set(KERNEL_PATH, {
      compress,
      wss: this.#server(kernelSubprotocol, node.config.limits.maxMessageBytes, compress),
      accept: (ws, _req, meta, contextTakeover) => acceptKernel(node, ws, contextTakeover ? frames : aloneFrames, meta),
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
    // Features' endpoints send their own formats as they go: uncompressed.
    const frames: Framers = { plain: this.#frames.plain, deflate: null, streams: null };
    const route: Route = {
      compress: false,
      wss: this.#server(select, endpoint.maxMessageBytes ?? node.config.limits.maxMessageBytes, false),
      accept: (ws, req, meta) => acceptEndpoint(node, endpoint, ws, frames, meta, endpointRequest(req, ws, endpoint)),
    };
    this.#routes.set(path, route);
    if (endpoint.subpaths) this.#parents.set(path, route);
  }

  #server(select: (offered: ReadonlySet<string>) => string | false, maxPayload: number, compress: boolean): WebSocketServer {
    return new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: compress ? INFLATE_ONLY : false,
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
    const route = this.#route((req.url ?? '').split('?')[0] as string);
    if (!route) return false;
    if (!socket.listeners('error').includes(this.#onSocketError)) socket.on('error', this.#onSocketError);
    this.admission.admit(req, 'WebSocket').then((result) => {
      if (!result.ok) {
        const { status, text, headers = {} } = result.refusal;
        reject(
          socket,
          status,
          text,
          Object.entries(headers)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join(''),
        );
        return;
      }
      if (socket.destroyed) return;
      const answer = route.compress ? offerOnly(req, this.#contextTakeover) : null;
      const contextTakeover = answer !== null && !answer.includes('server_no_context_takeover');
      route.wss.handleUpgrade(req, socket, head, (ws) => route.accept(ws, req, result.meta, contextTakeover));
    });
    return true;
  }

  /** The route of a path: its own, else the nearest parent endpoint that takes subpaths. */
  #route(path: string): Route | undefined {
    const own = this.#routes.get(path);
    if (own) return own;
    for (let end = path.lastIndexOf('/'); end > 0; end = path.lastIndexOf('/', end - 1)) {
      const parent = this.#parents.get(path.slice(0, end));
      if (parent) return parent;
    }
    return undefined;
  }

  close(): void {
    for (const route of this.#routes.values()) route.wss.close();
  }

  /** What an upgrade from this Origin would meet, for a plain GET on a WebSocket path (see Admission.probe). */
  probe(origin: string | undefined): ReturnType<Admission['probe']> {
    return this.admission.probe(origin);
  }
}

/** Leave `ws` the one permessage-deflate offer this server answers, or none (declined: no compression); that answer. */
function offerOnly(req: IncomingMessage, contextTakeover: boolean): string | null {
  const answer = negotiateDeflate(req.headers[EXTENSIONS], contextTakeover);
  if (answer === null) delete req.headers[EXTENSIONS];
  else req.headers[EXTENSIONS] = answer;
  return answer;
}

function endpointRequest(req: IncomingMessage, ws: WebSocket, endpoint: Endpoint): EndpointRequest {
  const url = req.url ?? '/';
  const at = url.indexOf('?');
  const path = at === -1 ? url : url.slice(0, at);
  const rest = path.length > endpoint.path.length ? path.slice(endpoint.path.length + 1) : '';
  return { url, query: new URLSearchParams(at === -1 ? '' : url.slice(at + 1)), headers: req.headers, protocol: ws.protocol, subpath: percentDecoded(rest) };
}

/** A path segment percent-decoded; as sent when its escapes are malformed (the endpoint refuses what it cannot name). */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
