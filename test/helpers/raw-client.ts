import { type ClientOptions, WebSocket } from 'ws';

export interface Frame {
  id?: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; temporary: boolean };
  push?: string;
  [key: string]: unknown;
}

/**
 * A protocol-level test client over a real WebSocket: sends raw frames, records every
 * frame received, and waits for frames or the close by predicate (never by sleeping).
 */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  closeCode: number | null = null;
  closeReason = '';
  #nextId = 1;
  #waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      this.raw.push(text);
      for (const line of text.split('\n')) if (line) this.frames.push(JSON.parse(line) as Frame);
      this.#check();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.#check();
    });
    ws.on('error', () => {});
  }

  /** `options` reach the `ws` client (e.g. `ca` for a wss:// server with a test certificate). */
  static async open(url: string, headers: Record<string, string> = {}, options: ClientOptions = {}): Promise<RawClient> {
    const ws = new WebSocket(url, { ...options, headers });
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return client;
  }

  /** Open and connect with a token; fails if connect is refused. */
  static async connect(url: string, token: string, options: ClientOptions = {}): Promise<RawClient> {
    const c = await RawClient.open(url, {}, options);
    const reply = await c.call('connect', { token });
    if (reply.error) throw new Error(`connect failed: ${JSON.stringify(reply.error)}`);
    c.info = reply.result as Record<string, unknown>;
    return c;
  }

  info: Record<string, unknown> = {};

  sendRaw(text: string | Buffer): void {
    this.ws.send(text);
  }

  send(method: string, params?: unknown): number {
    const id = this.#nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return id;
  }

  async call(method: string, params?: unknown, timeout = 5000): Promise<Frame> {
    const id = this.send(method, params);
    return this.waitFor((f) => f.id === id, timeout);
  }

  /** Resolve with the first frame (already received or future) that matches. */
  async waitFor(match: (f: Frame) => boolean, timeout = 5000, from = 0): Promise<Frame> {
    let found: Frame | undefined;
    await this.until(
      () => {
        found = this.frames.slice(from).find(match);
        return found !== undefined;
      },
      timeout,
      'frame',
    );
    return found as Frame;
  }

  async waitClose(timeout = 5000): Promise<number> {
    await this.until(() => this.closeCode !== null, timeout, 'close');
    return this.closeCode as number;
  }

  pushes(kind: string, channel?: string): Frame[] {
    return this.frames.filter((f) => f.push === kind && (channel === undefined || f['channel'] === channel));
  }

  until(test: () => boolean, timeout: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))} close: ${this.closeCode}`));
      }, timeout);
      this.#waiters.push(waiter);
    });
  }

  #check(): void {
    const ready = this.#waiters.filter((w) => w.test());
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
