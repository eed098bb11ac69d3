import { decodeServerMessage, type MethodMap, type MethodName, type Push, type ReplyError, SUBPROTOCOL_JSON } from '@switchboard/protocol';
import { WebSocket } from 'ws';

/** A command answered with an error frame. */
export class ReplyFailure extends Error {
  constructor(readonly reply: ReplyError) {
    super(`${reply.code} ${reply.message}`);
  }
}

interface Pending {
  resolve: (result: never) => void;
  reject: (err: Error) => void;
  /** Runs inside the message loop, before any later frame of the same message is handled. */
  sync: ((result: never) => void) | undefined;
}

export interface WireOptions {
  /** Source address of the TCP connection (127.0.0.2, …). */
  localAddress?: string | undefined;
  /** Every push except `ping` (answered here). */
  onPush?: (push: Push) => void;
  /** The socket closed without close() or terminate() being called here. */
  onLost?: (code: number) => void;
  /**
   * Sees each message's text first; answering true consumes it (not decoded). Lets a
   * watcher count a frequent push with a pattern instead of a JSON parse per frame.
   */
  onRaw?: (text: string) => boolean;
}

/**
 * One protocol v1 connection over `ws` with raw JSON frames: commands with ids and
 * pipelined replies, pong on ping. Deliberately thin: the load generator must cost little
 * per message so that the server, not the generator, is what gets measured.
 */
export class WireConnection {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly #pending = new Map<number, Pending>();
  readonly #opts: WireOptions;
  #nextId = 1;
  #closing = false;

  constructor(url: string, opts: WireOptions = {}) {
    this.#opts = opts;
    this.ws = new WebSocket(url, SUBPROTOCOL_JSON, {
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`HTTP ${res.statusCode ?? '?'}`));
        this.ws.terminate();
      });
      this.ws.once('error', (err) => reject(err));
      this.ws.once('close', (code) => reject(new Error(`closed ${code} before open`)));
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.ws.on('message', (data: Buffer) => this.#onMessage(data.toString()));
    this.ws.on('close', (code: number) => {
      const err = new Error(`connection closed (${code})`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      if (!this.#closing) this.#opts.onLost?.(code);
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  #onMessage(text: string): void {
    if (this.#opts.onRaw?.(text)) return;
    for (const frame of decodeServerMessage(text)) {
      if ('push' in frame) {
        if (frame.push === 'ping') this.ws.send('{"method":"pong"}');
        else this.#opts.onPush?.(frame);
        continue;
      }
      const p = this.#pending.get(frame.id);
      if (!p) continue;
      this.#pending.delete(frame.id);
      if (frame.error) {
        p.reject(new ReplyFailure(frame.error));
        continue;
      }
      p.sync?.(frame.result as never);
      p.resolve(frame.result as never);
    }
  }

  /**
   * Send a command; resolves with its result, rejects with ReplyFailure or when the socket
   * closes. `sync` sees the result before the pushes that follow the reply (a subscribe
   * reply must set the stream position before the first live publication is counted).
   */
  call<M extends MethodName>(method: M, params: MethodMap[M][0], sync?: (result: MethodMap[M][1]) => void): Promise<MethodMap[M][1]> {
    return this.command(method, params, sync as ((result: unknown) => void) | undefined) as Promise<MethodMap[M][1]>;
  }

  /** Any command, feature commands included (`comments.set_reaction`, `locks.acquire`): the result untyped. */
  command(method: string, params: unknown, sync?: (result: unknown) => void): Promise<unknown> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (r: never) => void, reject, sync: sync as ((r: never) => void) | undefined });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Close with a normal close frame; terminate after `graceMs`. */
  close(graceMs = 2000): Promise<void> {
    this.#closing = true;
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, graceMs);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
      else this.ws.close(1000);
    });
  }

  /** Drop the TCP connection at once, as a lost network would (no close frame). */
  terminate(): void {
    this.#closing = true;
    this.ws.terminate();
  }
}
