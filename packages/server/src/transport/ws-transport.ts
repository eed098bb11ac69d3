import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { DisconnectCode, SUBPROTOCOL_JSON } from '@switchboard/protocol';
import { WebSocket, WebSocketServer } from 'ws';
import type { Client } from '../core/client.js';
import type { Connection } from '../core/connection.js';
import type { Socket } from 'node:net';
import type { Node } from '../core/node.js';
import { originAllowed } from './origin.js';
import { FrameCache, joinedTextFrame } from './ws-frames.js';

/** How long a closing socket may take to finish the close handshake before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

function reject(socket: Duplex, status: number, text: string, extra = ''): void {
  if (socket.destroyed) return;
  const body = `${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * Accepts WebSocket upgrades on one path and hands each socket to the node as a Connection.
 * Checks before the upgrade (path, Origin, draining, new connections per IP) answer with an
 * HTTP status, so a refused client never gets a WebSocket.
 */
export class WebSocketTransport {
  readonly #wss: WebSocketServer;
  /** One shared listener: a closure here would keep each connection's upgrade request alive. */
  readonly #onSocketError = (err: Error): void => this.node.logger.debug({ err }, 'upgrade socket error');
  readonly #frames = new FrameCache();

  constructor(private readonly node: Node, readonly path = '/ws') {
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: node.config.limits.maxMessageBytes,
      skipUTF8Validation: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_JSON) ? SUBPROTOCOL_JSON : false),
    });
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
    const path = (req.url ?? '').split('?')[0];
    if (path !== this.path) return false;
    if (!socket.listeners('error').includes(this.#onSocketError)) socket.on('error', this.#onSocketError);
    const { config } = this.node;
    if (!req.headers.host) {
      reject(socket, 400, 'Bad Request');
      return true;
    }
    const origin = req.headers.origin;
    if (!originAllowed(origin, config.allowedOrigins, config.development)) {
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
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, ip, origin, req.headers['user-agent']));
      },
      (err) => {
        this.node.logger.warn({ err }, 'connection rate check failed');
        reject(socket, 503, 'Service Unavailable');
      },
    );
    return true;
  }

  #accept(ws: WebSocket, ip: string, origin: string | undefined, userAgent: string | undefined): void {
    const node = this.node;
    const conn = new WsConnection(ws, this.#frames, node);
    const meta = { ip, ...(origin !== undefined ? { origin } : {}), ...(userAgent !== undefined ? { userAgent } : {}) };
    const client = node.accept(conn, meta);
    (ws as ClientSocket)[CLIENT] = client;
    ws.on('message', onMessage);
    ws.on('ping', onPing);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  close(): void {
    this.#wss.close();
  }
}

const CLIENT = Symbol('client');

/** A socket tagged with its client, so one set of listeners serves every connection. */
type ClientSocket = WebSocket & { [CLIENT]: Client };

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const client = (this as ClientSocket)[CLIENT];
  if (isBinary) {
    client.close(DisconnectCode.BadRequest, 'binary messages are not accepted');
    return;
  }
  try {
    client.handleMessage(data.toString('utf8'));
  } catch (err) {
    client.node.logger.error({ err }, 'message handling failed');
    client.close(DisconnectCode.ServerError);
  }
}

function onPing(this: WebSocket): void {
  (this as ClientSocket)[CLIENT].handleTransportPing();
}

function onError(this: WebSocket, err: Error): void {
  const client = (this as ClientSocket)[CLIENT];
  client.node.logger.debug({ err, client: client.id }, 'websocket error');
}

function onClose(this: WebSocket): void {
  (this as ClientSocket)[CLIENT].cleanup();
}

const terminate = (ws: WebSocket): void => ws.terminate();

/**
 * A Connection over one `ws` socket. Text messages are framed here and written straight
 * to the TCP socket: a publication is framed once for all its recipients (FrameCache), and
 * a turn's frames for one socket go out in one write. `ws` still handles reading, control
 * frames and the close handshake; without permessage-deflate its sender writes to the
 * socket synchronously, so both writers keep their order.
 */
class WsConnection implements Connection {
  readonly #socket: Socket;
  #closing = false;

  constructor(private readonly ws: WebSocket, private readonly frames: FrameCache, private readonly node: Node) {
    this.#socket = (ws as unknown as { _socket: Socket })._socket;
  }

  send(frames: readonly Buffer[], count: number, bytes: number): void {
    if (this.ws.readyState !== WebSocket.OPEN || !this.#socket.writable) return;
    this.#socket.write(count === 1 ? this.frames.frame(frames[0] as Buffer) : joinedTextFrame(frames, count, bytes));
  }

  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    this.node.wheel.schedule(CLOSE_GRACE_MS, terminate, this.ws);
  }

  bufferedAmount(): number {
    return this.#socket.writableLength;
  }
}
