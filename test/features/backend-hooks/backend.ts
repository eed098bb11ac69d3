import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the backend received. */
export interface BackendCall {
  hook: string;
  headers: IncomingHttpHeaders;
  /** The raw body text, and parsed. */
  text: string;
  body: Record<string, unknown>;
}

/** How the backend answers one call: a JSON value (200), raw text, a status, or held until released. */
export type Reply =
  | { json: unknown }
  | { text: string; status?: number; contentType?: string }
  | { status: number }
  | { hold: true }
  | { chunks: number; chunkBytes: number };

export type Responder = (call: BackendCall) => Reply;

/**
 * A real app backend on node:http (127.0.0.1, port 0): POST /<hook> answers by the responder
 * set for that hook; every call is recorded. Held calls wait until `release()`.
 */
export class TestBackend {
  readonly calls: BackendCall[] = [];
  readonly #responders = new Map<string, Responder>();
  readonly #held: Array<{ res: ServerResponse; reply: unknown }> = [];

  private constructor(
    readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<TestBackend> {
    let backend: TestBackend | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => (backend as TestBackend).handle(req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    backend = new TestBackend(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return backend;
  }

  /** Answer calls of `hook` with `responder` from now on. */
  on(hook: string, responder: Responder): void {
    this.#responders.set(hook, responder);
  }

  callsOf(hook: string): BackendCall[] {
    return this.calls.filter((c) => c.hook === hook);
  }

  get heldCount(): number {
    return this.#held.length;
  }

  /** Answer every held call with `{ result: reply }`. */
  release(reply: unknown = {}): void {
    for (const h of this.#held.splice(0)) {
      if (!h.res.destroyed) h.res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: reply }));
    }
  }

  handle(url: string, headers: IncomingHttpHeaders, text: string, res: ServerResponse): void {
    const hook = url.replace(/^\//, '').split('?')[0] as string;
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {}
    const call = { hook, headers, text, body };
    this.calls.push(call);
    const reply = (this.#responders.get(hook) ?? (() => ({ json: { result: {} } })))(call);
    if ('hold' in reply) {
      this.#held.push({ res, reply });
      return;
    }
    if ('json' in reply) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.json));
      return;
    }
    if ('chunks' in reply) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(reply.chunkBytes, 0x20);
      for (let i = 0; i < reply.chunks; i++) res.write(chunk);
      res.end();
      return;
    }
    if ('text' in reply) {
      res.writeHead(reply.status ?? 200, { 'content-type': reply.contentType ?? 'application/json' }).end(reply.text);
      return;
    }
    res.writeHead(reply.status).end();
  }

  async close(): Promise<void> {
    for (const h of this.#held.splice(0)) h.res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A URL on 127.0.0.1 where nothing listens (connection refused). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
