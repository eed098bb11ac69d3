import type { SocketCloseEvent, SocketEvent, SocketMessageEvent, WebSocketConstructor, WebSocketLike } from './websocket.js';

/** The part of a streamed response body the SSE reader uses (a WHATWG ReadableStream). */
export interface StreamBody {
  getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> };
}

/** The part of `fetch` the fallback uses: a streamed GET and text POSTs, both abortable. */
export type StreamFetch = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ ok: boolean; status?: number; body?: StreamBody | null }>;

/** RFC 6455 §7.1.5: closed without a close frame. */
const ABNORMAL = 1006;
/** What a WebSocket gets for an oversized message; a 413 on a POST means the same. */
const TOO_BIG = 1009;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** `ws://host/ws?x` → `http://host/ws/sse?x`: the fallback lives beside the WebSocket path. */
export function fallbackUrl(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/$/, '')}/sse`;
  return url.toString();
}

type Listener = (event: SocketEvent & SocketMessageEvent & SocketCloseEvent) => void;

/**
 * The fallback transport behind the WebSocket interface: a Server-Sent Events stream read
 * from `fetch`'s streamed body (so one implementation serves browsers and Node 20, which has
 * no EventSource) for server → client, and one POST at a time for client → server (frames
 * sent meanwhile join the next POST). The server's `close` event plays the close frame.
 */
export class SseSocket implements WebSocketLike {
  readyState = CONNECTING;
  readonly #fetch: StreamFetch;
  readonly #url: string;
  readonly #abort = new AbortController();
  readonly #listeners = new Map<string, Listener[]>();
  #postUrl = '';
  #outbox: string[] = [];
  #posting = false;

  constructor(wsUrl: string, fetch: StreamFetch) {
    this.#fetch = fetch;
    this.#url = fallbackUrl(wsUrl);
    void this.#read();
  }

  addEventListener(type: string, listener: Listener): void {
    const list = this.#listeners.get(type);
    if (list) list.push(listener);
    else this.#listeners.set(type, [listener]);
  }

  send(data: string): void {
    if (this.readyState !== OPEN) throw new Error('not open');
    this.#outbox.push(data);
    this.#pump();
  }

  /** Close as a WebSocket close frame would: tell the server (so it is not a lost connection), then drop the stream. */
  close(code = 1000, reason = ''): void {
    if (this.readyState !== OPEN) {
      this.#finish(code, reason);
      return;
    }
    const abort = this.#abort;
    this.#finish(code, reason, false);
    const done = () => abort.abort();
    this.#fetch(`${this.#postUrl}&close=${code}`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: '' }).then(done, done);
  }

  #emit(type: string, event: Partial<SocketMessageEvent & SocketCloseEvent>): void {
    for (const listener of this.#listeners.get(type) ?? []) listener({ type, data: undefined, code: 0, reason: '', ...event });
  }

  #finish(code: number, reason: string, abort = true): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#outbox = [];
    if (abort) this.#abort.abort();
    this.#emit('close', { code, reason });
  }

  async #read(): Promise<void> {
    try {
      const res = await this.#fetch(this.#url, { headers: { accept: 'text/event-stream' }, signal: this.#abort.signal });
      if (!res.ok || !res.body) {
        this.#finish(ABNORMAL, `event stream refused (HTTP ${res.status ?? '?'})`);
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.readyState === CLOSED) break;
        buffer += decoder.decode(value, { stream: true });
        let at = buffer.indexOf('\n\n');
        while (at !== -1) {
          this.#event(buffer.slice(0, at));
          if (this.readyState === CLOSED) return;
          buffer = buffer.slice(at + 2);
          at = buffer.indexOf('\n\n');
        }
      }
      this.#finish(ABNORMAL, 'event stream ended');
    } catch (err) {
      this.#finish(ABNORMAL, err instanceof Error ? err.message : 'event stream failed');
    }
  }

  /** One event block: `event:` names it (default message), `data:` lines are joined by newlines. */
  #event(block: string): void {
    let name = 'message';
    let data = '';
    let lines = 0;
    for (const line of block.split('\n')) {
      if (line.startsWith('data:')) data += (lines++ > 0 ? '\n' : '') + line.slice(line.startsWith('data: ') ? 6 : 5);
      else if (line.startsWith('event:')) name = line.slice(6).trim();
    }
    if (lines === 0) return;
    if (name === 'message') {
      if (this.readyState === OPEN) this.#emit('message', { data });
    } else if (name === 'session') {
      const { session } = JSON.parse(data) as { session: string };
      this.#postUrl = `${this.#url}${this.#url.includes('?') ? '&' : '?'}session=${encodeURIComponent(session)}`;
      this.readyState = OPEN;
      this.#emit('open', {});
    } else if (name === 'close') {
      const { code, reason } = JSON.parse(data) as { code: number; reason: string };
      this.#finish(code, reason);
    }
  }

  /** Send what is waiting, one POST at a time so the server reads frames in order. */
  #pump(): void {
    if (this.#posting || this.#outbox.length === 0 || this.readyState !== OPEN) return;
    const body = this.#outbox.join('\n');
    this.#outbox = [];
    this.#posting = true;
    this.#fetch(this.#postUrl, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body, signal: this.#abort.signal }).then(
      (res) => {
        this.#posting = false;
        if (res.ok) this.#pump();
        else this.#finish(res.status === 413 ? TOO_BIG : ABNORMAL, `POST refused (HTTP ${res.status ?? '?'})`);
      },
      (err: unknown) => {
        this.#posting = false;
        this.#finish(ABNORMAL, err instanceof Error ? err.message : 'POST failed');
      },
    );
  }
}

/** A WebSocket-shaped class that opens the fallback with this `fetch`. */
export function sseSocketClass(fetch: StreamFetch): WebSocketConstructor {
  return class extends SseSocket {
    constructor(url: string) {
      super(url, fetch);
    }
  };
}
