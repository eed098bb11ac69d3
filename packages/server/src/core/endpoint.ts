import type { IncomingHttpHeaders } from 'node:http';
import type { ConnectionMeta } from './connection.js';

/**
 * A WebSocket path of its own beside the kernel's `/ws` (a y-websocket or Hocuspocus door,
 * a metrics stream): the transport applies the same checks to it as to `/ws` (Origin, new
 * connections per IP, message size, handshake deadline, refusal while draining) and counts
 * its connections with the node's; what is said over it is the endpoint's business.
 */
export interface Endpoint {
  /** The exact path (query string ignored), e.g. `/documents`; unique per server. */
  readonly path: string;
  /**
   * Whether paths below it are this endpoint's too (`/documents/doc:form-42`, where a
   * provider names what it opens in the URL); the rest is in `EndpointRequest.subpath`.
   */
  readonly subpaths?: boolean;
  /**
   * The subprotocol to agree on: the first of these the client offers (none when it offers
   * none of them), or a function choosing among the offered ones (false: none). A browser
   * that offered subprotocols refuses an upgrade that selects none.
   */
  readonly subprotocols?: readonly string[] | ((offered: ReadonlySet<string>) => string | false);
  /** Whether binary messages are accepted; a binary message to an endpoint without closes it with 1003. */
  readonly binary: boolean;
  /** Largest message accepted (bytes, default the kernel's `limits.maxMessageBytes`); larger closes with 1009. */
  readonly maxMessageBytes?: number;
  /**
   * A connection was accepted: return what handles its messages. Runs synchronously in the
   * upgrade; messages that need async work (token checks) are the session's to queue.
   */
  open(connection: EndpointConnection, request: EndpointRequest): EndpointSession;
}

/** What the upgrade request said, for the endpoint's own authentication and routing. */
export interface EndpointRequest {
  /** The path and query as sent (`/documents/doc:1?token=…`). */
  readonly url: string;
  readonly query: URLSearchParams;
  /** With `subpaths`: what follows the endpoint's path and its slash, percent-decoded ('' for the path itself). */
  readonly subpath: string;
  readonly headers: IncomingHttpHeaders;
  /** The subprotocol agreed on ('' when none). */
  readonly protocol: string;
}

/** One accepted connection of an endpoint. */
export interface EndpointConnection {
  readonly id: string;
  readonly meta: ConnectionMeta;
  /**
   * Send one message. Messages sent in one event-loop turn leave in one socket write, and
   * the same Buffer sent to many connections in a row is framed once (RFC 6455 server
   * frames are unmasked, so the bytes do not depend on the recipient). A connection with
   * `limits.queueMaxBytes` unwritten is closed as a slow consumer (3006) instead.
   */
  send(payload: Buffer, binary: boolean): void;
  /** Close with a WebSocket close code (1000, 1008, 3000–4999) and a reason of at most 123 bytes. Idempotent. */
  close(code: number, reason?: string): void;
  /** Bytes accepted by send() but not yet written to the network (for the endpoint's own backpressure). */
  bufferedAmount(): number;
  /**
   * Resolves once everything sent so far is written to the network (at once when it is), or
   * the connection closed: how a large state goes out in chunks without reaching
   * `queueMaxBytes`. @example for (const c of chunks) { conn.send(c, true); await conn.drained(); }
   */
  drained(): Promise<void>;
  readonly closed: boolean;
}

/** An endpoint's side of one connection. */
export interface EndpointSession {
  /** A message (text as UTF-8 bytes, validated). Throwing closes the connection with 1011. */
  message(data: Buffer, binary: boolean): void;
  /** The connection closed, from either side; called once. */
  closed?(code: number, reason: string): void;
}
