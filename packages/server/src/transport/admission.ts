import type { IncomingMessage } from 'node:http';
import type { ConnectionMeta } from '../core/connection.js';
import type { Node } from '../core/node.js';
import { originAllowed } from './origin.js';

const ORIGIN_HINT = 'add it to allowedOrigins (--allowed-origins / SWITCHBOARD_ALLOWED_ORIGINS)';
/** A refused Origin is logged at most this often (each refusal is counted). */
const ORIGIN_LOG_INTERVAL = 60_000;

/** Why a new connection is refused: the HTTP status, its text and any extra headers. */
export interface Refusal {
  readonly status: number;
  readonly text: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What asks to connect, as the log line names it. */
export type Kind = 'WebSocket' | 'Event stream';

export type AdmissionResult = { readonly ok: true; readonly meta: ConnectionMeta } | { readonly ok: false; readonly refusal: Refusal };

const BAD_REQUEST: Refusal = { status: 400, text: 'Bad Request' };
const FORBIDDEN: Refusal = { status: 403, text: 'Forbidden' };
const DRAINING: Refusal = { status: 503, text: 'Service Unavailable', headers: { 'Retry-After': '2' } };
const TOO_MANY: Refusal = { status: 429, text: 'Too Many Requests', headers: { 'Retry-After': '1' } };
const UNAVAILABLE: Refusal = { status: 503, text: 'Service Unavailable' };

/**
 * The checks every new connection passes, whichever transport carries it (a WebSocket
 * upgrade or a Server-Sent Events stream): Host present, Origin allowed, node not draining,
 * new connections per IP within the rate. One place, so the transports cannot drift.
 */
/** The named headers of a request (a small object of its own: the request is not kept alive by it). */
function pickHeaders(req: IncomingMessage, names: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export class Admission {
  readonly #originLogged = new Map<string, number>();

  constructor(
    private readonly node: Node,
    /** Upgrade-request headers (lower-case names) kept in each connection's meta: the ones features read. */
    private readonly keepHeaders: readonly string[] = [],
  ) {}

  /** The checks that need no engine round trip: Host and Origin; null when both pass. */
  checkRequest(req: IncomingMessage, kind: Kind): Refusal | null {
    if (!req.headers.host) return BAD_REQUEST;
    if (!this.originAllowed(req.headers.origin, kind)) return FORBIDDEN;
    return null;
  }

  /** Whether a browser Origin may connect (counted and logged when it may not). */
  originAllowed(origin: string | undefined, kind: Kind): boolean {
    const { config } = this.node;
    if (originAllowed(origin, config.allowedOrigins, config.development)) return true;
    this.#originRefused(origin as string, kind);
    return false;
  }

  /** All the checks for a new connection, and the peer's facts when it is admitted. */
  async admit(req: IncomingMessage, kind: Kind): Promise<AdmissionResult> {
    const refused = this.checkRequest(req, kind);
    if (refused) return { ok: false, refusal: refused };
    if (this.node.draining) return { ok: false, refusal: DRAINING };
    const ip = req.socket.remoteAddress ?? 'unknown';
    const rate = this.node.config.limits.newConnectionsPerIpPerSecond;
    let ok: boolean;
    try {
      ok = await this.node.engine.limits.take(`ip|${ip}`, rate, rate * 2);
    } catch (err) {
      this.node.logger.warn({ err }, 'connection rate check failed');
      return { ok: false, refusal: UNAVAILABLE };
    }
    if (!ok) {
      this.node.stats.drop('ip_rate');
      if (this.node.security.active) this.node.security.report({ type: 'limit.rate', tenant: null, user: null, ip, limit: 'connect', count: 1 });
      return { ok: false, refusal: TOO_MANY };
    }
    const { origin } = req.headers;
    const userAgent = req.headers['user-agent'];
    const headers = this.keepHeaders.length > 0 ? { headers: pickHeaders(req, this.keepHeaders) } : {};
    return { ok: true, meta: { ip, ...(origin !== undefined ? { origin } : {}), ...(userAgent !== undefined ? { userAgent } : {}), ...headers } };
  }

  /**
   * What a new connection from this Origin would meet, for a plain GET on a WebSocket path: a
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
  #originRefused(origin: string, kind: Kind): void {
    this.node.stats.drop('forbidden_origin');
    const now = Date.now();
    const last = this.#originLogged.get(origin);
    if (last !== undefined && now - last < ORIGIN_LOG_INTERVAL) return;
    if (this.#originLogged.size >= 1000) this.#originLogged.clear();
    this.#originLogged.set(origin, now);
    this.node.logger.warn({ origin }, `${kind} refused: Origin not allowed; ${ORIGIN_HINT}`);
  }
}
