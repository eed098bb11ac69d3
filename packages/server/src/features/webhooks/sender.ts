import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { type AddressCheck, guardedLookup } from './ssrf.js';

/** Response bodies are read up to this and discarded. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest error text kept with an attempt. */
const ERROR_CHARS = 300;

/** How one attempt ended. */
export interface AttemptResult {
  /** A 2xx within the timeout. */
  ok: boolean;
  /** The HTTP status, null when none came (refused, timed out, SSRF). */
  status: number | null;
  durationMs: number;
  error: string | null;
  /** The answer's Retry-After, in ms, when it had one. */
  retryAfterMs: number | null;
}

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Retry-After as seconds or an HTTP date, in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Posts webhook requests: one attempt each, redirects not followed, the connected address
 * checked by the SSRF rules, the answer read up to 64 KiB and discarded, everything within
 * the timeout. Keep-alive agents reuse connections to an endpoint (each new one is checked).
 */
export class WebhookSender {
  readonly #check: AddressCheck;
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;

  constructor(check: AddressCheck) {
    this.#check = check;
    const lookup = guardedLookup(check);
    this.#http = new HttpAgent({ keepAlive: true, lookup } as ConstructorParameters<typeof HttpAgent>[0]);
    this.#https = new HttpsAgent({ keepAlive: true, lookup } as ConstructorParameters<typeof HttpsAgent>[0]);
  }

  send(req: SendRequest): Promise<AttemptResult> {
    const started = performance.now();
    const done = (status: number | null, error: string | null, retryAfterMs: number | null = null): AttemptResult => ({
      ok: status !== null && status >= 200 && status < 300 && error === null,
      status,
      durationMs: Math.round(performance.now() - started),
      error: error?.slice(0, ERROR_CHARS) ?? null,
      retryAfterMs,
    });
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return Promise.resolve(done(null, 'not a URL'));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // A literal address is never looked up: check it here.
    const literal = isIP(host) !== 0 ? this.#check(host) : null;
    if (literal) return Promise.resolve(done(null, `refused by the SSRF rules: ${literal}`));
    const secure = url.protocol === 'https:';
    return new Promise<AttemptResult>((resolve) => {
      let settled = false;
      const finish = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const request = (secure ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        agent: secure ? this.#https : this.#http,
        headers: { 'content-type': 'application/json', 'user-agent': 'Switchboard-Webhooks/1', ...req.headers, 'content-length': Buffer.byteLength(req.body) },
      });
      const timer = setTimeout(() => {
        finish(done(null, `no complete answer within ${req.timeoutMs} ms`));
        request.destroy();
      }, req.timeoutMs);
      const onAbort = () => {
        finish(done(null, 'aborted'));
        request.destroy();
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (err: NodeJS.ErrnoException) => finish(done(null, err.message || err.code || 'request failed')));
      request.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const retryAfter = parseRetryAfter(res.headers['retry-after'] as string | undefined, Date.now());
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          // Enough read: the status decides; the rest is not wanted.
          if (read > MAX_RESPONSE_BYTES) {
            finish(done(status, null, retryAfter));
            res.destroy();
          }
        });
        res.on('end', () => finish(done(status, null, retryAfter)));
        res.on('error', (err) => finish(done(status, err.message, retryAfter)));
        res.on('close', () => finish(done(status, res.complete ? null : 'the answer was cut', retryAfter)));
      });
      request.end(req.body);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
