import { createHmac } from 'node:crypto';
import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ConnectionMeta } from '../../core/connection.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { BackendHooksConfig } from './config.js';
import type { BackendHookMetrics, CallOutcome } from './metrics.js';
import { type HookKind, type HookResponse, hookResponses } from './wire.js';

/** Headers the server sets itself: an allow-list never passes these on. */
const OWN_HEADERS = new Set(['host', 'content-type', 'content-length', 'connection', 'transfer-encoding', 'accept-encoding']);

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

  constructor(
    private readonly config: BackendHooksConfig,
    private readonly metrics: BackendHookMetrics,
    private readonly logger: Logger,
  ) {
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

  async #post(hook: HookKind, url: string, body: string, meta: ConnectionMeta): Promise<string> {
    const signal = AbortSignal.timeout(this.config.timeout);
    try {
      const res = await fetch(url, { method: 'POST', headers: this.#headers(hook, body, meta), body, signal, redirect: 'error' });
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => {});
        throw new CallFailure('unavailable', new ReplyError(ErrorCode.BackendUnavailable, `HTTP ${res.status}`), `HTTP ${res.status}`);
      }
      return await readCapped(res, this.config.maxResponseBytes);
    } catch (err) {
      if (err instanceof CallFailure) throw err;
      if (signal.aborted) throw new CallFailure('timeout', new ReplyError(ErrorCode.BackendUnavailable, 'timeout'), `no answer in ${this.config.timeout} ms`);
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
      throw new CallFailure('unavailable', new ReplyError(ErrorCode.BackendUnavailable), cause);
    }
  }

  #headers(hook: HookKind, body: string, meta: ConnectionMeta): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-switchboard-hook': hook };
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

/** The answer's text, or an invalid-response failure past `max` bytes (the rest is not read). */
async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw invalid(`answer of ${declared} bytes, more than ${max}`);
  }
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw invalid(`answer larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

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
