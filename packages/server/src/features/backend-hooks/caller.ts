import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ConnectionMeta } from '../../core/connection.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { BackendHooksConfig } from './config.js';
import type { BackendHookMetrics, CallOutcome } from './metrics.js';
import { type HookKind, type HookResponse, hookResponses } from './wire.js';

/** Headers the server sets itself: an allow-list never passes these on. */
const OWN_HEADERS = new Set(['host', 'content-type', 'content-length', 'connection', 'transfer-encoding', 'keep-alive']);

/** A failed call: its outcome for the metrics, and what the client is told. */
class CallFailure extends Error {
  constructor(
    readonly outcome: CallOutcome,
    readonly reply: ReplyError,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Calls the app's backend: one POST of JSON per hook call, signed when a secret is set,
 * with the allowed upgrade headers; at most `maxConcurrency` in flight (beyond: 121 at
 * once), each within `timeout` (answer read included) and `maxResponseBytes`. A backend
 * down or late is 119 (temporary), an answer that is not one is 120 (logged).
 */
export class BackendCaller {
  #inFlight = 0;
  readonly #allowed: readonly string[];
  readonly #targets = new Map<string, URL>();
  readonly #httpAgent: HttpAgent;
  readonly #httpsAgent: HttpsAgent;

  constructor(
    private readonly config: BackendHooksConfig,
    private readonly metrics: BackendHookMetrics,
    private readonly logger: Logger,
  ) {
    const pool = { keepAlive: true, maxSockets: config.maxConcurrency };
    this.#httpAgent = new HttpAgent(pool);
    this.#httpsAgent = new HttpsAgent(pool);
    this.#allowed = config.headers.map((h) => h.toLowerCase()).filter((h) => !OWN_HEADERS.has(h) && !h.startsWith('x-switchboard-'));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** POST `body` (JSON text) for `hook` and return the validated answer. */
  async call<K extends HookKind>(hook: K, url: string, body: string, meta: ConnectionMeta): Promise<HookResponse<K>> {
    if (this.#inFlight >= this.config.maxConcurrency) {
      this.metrics.observe(hook, 'busy', null);
      throw new ReplyError(ErrorCode.BackendBusy, `${this.config.maxConcurrency} calls in flight`);
    }
    this.#inFlight++;
    const started = process.hrtime.bigint();
    let outcome: CallOutcome = 'ok';
    try {
      const answer = parseAnswer(hook, await this.#post(hook, url, body, meta));
      if ('error' in answer) outcome = 'refused';
      return answer;
    } catch (err) {
      const failure = err instanceof CallFailure ? err : new CallFailure('unavailable', new ReplyError(ErrorCode.BackendUnavailable), String(err));
      outcome = failure.outcome;
      this.logger.warn({ hook, url, outcome, detail: failure.detail }, `backend ${hook} hook failed`);
      throw failure.reply;
    } finally {
      this.#inFlight--;
      this.metrics.observe(hook, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** POST and read the answer (at most `maxResponseBytes`), all within `timeout`. */
  async #post(hook: HookKind, url: string, body: string, meta: ConnectionMeta): Promise<string> {
    const signal = AbortSignal.timeout(this.config.timeout);
    try {
      return await this.#send(this.#target(url), this.#headers(hook, body, meta), body, signal);
    } catch (err) {
      if (err instanceof CallFailure) throw err;
      if (signal.aborted) throw new CallFailure('timeout', new ReplyError(ErrorCode.BackendUnavailable, 'timeout'), `no answer in ${this.config.timeout} ms`);
      const cause = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
      throw new CallFailure('unavailable', new ReplyError(ErrorCode.BackendUnavailable), cause);
    }
  }

  #target(url: string): URL {
    let target = this.#targets.get(url);
    if (!target) {
      target = new URL(url);
      this.#targets.set(url, target);
    }
    return target;
  }

  // node:http rather than fetch: a call costs a fraction of fetch's time (docs/benchmarks.md, "Backend hooks").
  #send(target: URL, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<string> {
    const https = target.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const max = this.config.maxResponseBytes;
    return new Promise((resolve, reject) => {
      const req = send(target, { method: 'POST', headers, agent: https ? this.#httpsAgent : this.#httpAgent, signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          res.resume();
          reject(new CallFailure('unavailable', new ReplyError(ErrorCode.BackendUnavailable, `HTTP ${status}`), `HTTP ${status}`));
          return;
        }
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > max) {
          res.destroy();
          reject(invalid(`answer of ${declared} bytes, more than ${max}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > max) {
            res.destroy();
            reject(invalid(`answer larger than ${max} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('answer cut short'));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Close the idle keep-alive connections to the backend. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  #headers(hook: HookKind, body: string, meta: ConnectionMeta): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-switchboard-hook': hook,
    };
    for (const name of this.#allowed) {
      const value = meta.headers?.[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (this.config.secret) {
      const timestamp = String(Date.now());
      headers['x-switchboard-timestamp'] = timestamp;
      headers['x-switchboard-signature'] = `sha256=${createHmac('sha256', this.config.secret).update(`${timestamp}.${body}`).digest('hex')}`;
    }
    return headers;
  }
}

const invalid = (detail: string) => new CallFailure('invalid', new ReplyError(ErrorCode.BackendInvalidResponse), detail);

function parseAnswer<K extends HookKind>(hook: K, text: string): HookResponse<K> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid('answer is not JSON');
  }
  const parsed = hookResponses[hook].safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`answer does not match the ${hook} response schema${issue ? ` at ${issue.path.join('.') || '(root)'}: ${issue.message}` : ''}`);
  }
  return parsed.data as HookResponse<K>;
}
