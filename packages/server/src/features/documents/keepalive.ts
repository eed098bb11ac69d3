import type { EndpointConnection } from '../../core/endpoint.js';

/** How often every documents connection is sent its keep-alive message. */
export const KEEPALIVE_INTERVAL = 10_000;

/**
 * Keep-alive messages of the documents endpoint, on one timer for every connection. Both
 * providers reconnect after 30 s without a message (WebSocket pings do not count in a
 * browser): a Hocuspocus connection gets the protocol's ping, a y-websocket one an empty
 * awareness update (which changes nothing), every 10 s.
 */
export class KeepAlive {
  readonly #conns = new Map<EndpointConnection, Buffer>();
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly interval = KEEPALIVE_INTERVAL) {}

  add(conn: EndpointConnection, message: Buffer): void {
    this.#conns.set(conn, message);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#beat(), this.interval);
      this.#timer.unref();
    }
  }

  remove(conn: EndpointConnection): void {
    this.#conns.delete(conn);
    if (this.#conns.size === 0) this.stop();
  }

  #beat(): void {
    for (const [conn, message] of this.#conns) if (!conn.closed) conn.send(message, true);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
