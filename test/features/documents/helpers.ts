import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { dropPrefix } from '../../cluster/drop-prefix.js';
import { createTestDatabase, PG_URL, type StoreName, type TestDatabase } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

/**
 * Helpers of the documents tests: a real server whose data outlives its restarts (the same
 * SQLite directory or PostgreSQL schema), and real y-websocket providers from npm over
 * real sockets.
 */

/**
 * Where the document suites run: each store with the memory engine, and PostgreSQL with the
 * Redis engine (the real Redis, a key prefix of its own per server, dropped at the end).
 */
export const DOCUMENT_SETUPS = ['sqlite', 'postgres', 'postgres+redis'] as const;
export type DocumentSetup = (typeof DOCUMENT_SETUPS)[number] | StoreName;
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const DOC_CAPS = { 'doc:*': ['subscribe', 'publish', 'presence'], 'project:*': ['subscribe', 'publish'] };
export const WAIT = 10_000;

type Overrides = Parameters<typeof startTestServer>[0];

export interface DocumentsServer {
  current: TestServer;
  db: TestDatabase;
  /** A connected PostgreSQL client of the test database (the caller ends it). */
  admin(): Promise<pg.Client>;
  /** ws://127.0.0.1:PORT/documents */
  readonly documentsUrl: string;
  /** An HTTP API call with the admin key, as `tenant` (acme unless given). */
  api(method: string, path: string, opts?: { tenant?: string; body?: unknown }): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Stop the server (its data stays) and start it again on the same data. */
  restart(): Promise<void>;
  /** Stop the server for good and drop its data. */
  stop(): Promise<void>;
}

export async function startDocumentsServer(setup: DocumentSetup, overrides: Overrides = {}): Promise<DocumentsServer> {
  const store: StoreName = setup === 'sqlite' ? 'sqlite' : 'postgres';
  const redisPrefix = setup === 'postgres+redis' ? `sb-docs-${randomBytes(5).toString('hex')}` : null;
  const db: TestDatabase = await createTestDatabase(store);
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-docs-'));
  const engine = redisPrefix ? { redis: REDIS_URL, redisPrefix } : {};
  const start = () => startTestServer({ ...overrides, ...engine, database: db.database, keepDataDir: dataDir });
  const s: DocumentsServer = {
    current: await start(),
    db,
    async admin() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      return client;
    },
    get documentsUrl() {
      return `ws://127.0.0.1:${s.current.port}/documents`;
    },
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${s.current.apiKey}`, 'x-switchboard-tenant': opts.tenant ?? 'acme' };
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${s.current.httpUrl}/api/v1${path}`, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
    async restart() {
      await s.current.close();
      s.current = await start();
    },
    async stop() {
      await s.current.close();
      await db.drop();
      if (redisPrefix) await dropPrefix(REDIS_URL, redisPrefix);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return s;
}

export interface OpenProvider {
  doc: Y.Doc;
  provider: WebsocketProvider;
  /** Close events the provider saw, in order. */
  closes: Array<{ code: number; reason: string }>;
  destroy(): void;
}

/** A real y-websocket provider on `name`, with a token of `sub` (tenant acme unless given). */
export async function openProvider(
  s: DocumentsServer,
  name: string,
  sub: string,
  opts: { caps?: Record<string, string[]>; tenant?: string; token?: string | null; doc?: Y.Doc; awaitSync?: boolean } = {},
): Promise<OpenProvider> {
  const doc = opts.doc ?? new Y.Doc();
  const token =
    opts.token === undefined ? await s.current.token({ sub, caps: opts.caps ?? DOC_CAPS, ...(opts.tenant ? { tenant: opts.tenant } : {}) }) : opts.token;
  const provider = new WebsocketProvider(s.documentsUrl, name, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: token === null ? {} : { token },
    disableBc: true,
    maxBackoffTime: 200,
  });
  const closes: Array<{ code: number; reason: string }> = [];
  provider.on('connection-close', (event) => {
    if (event) closes.push({ code: event.code, reason: event.reason });
  });
  if (opts.awaitSync !== false) await eventually(() => provider.synced, WAIT, `${sub} synced on ${name}`);
  return {
    doc,
    provider,
    closes,
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

/** Wait until every doc's encoded state is the same (they converged). */
export async function converged(docs: readonly Y.Doc[], what: string): Promise<void> {
  const state = (d: Y.Doc) => Buffer.from(Y.encodeStateVector(d)).toString('hex');
  await eventually(() => docs.every((d) => state(d) === state(docs[0] as Y.Doc)), WAIT, what);
}

/** The value of a gauge or counter on /metrics (0 when absent). */
export async function metric(s: DocumentsServer, line: string): Promise<number> {
  const text = await (await fetch(`${s.current.httpUrl}/metrics`)).text();
  const escaped = line.replace(/[{}"]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
}

type ProviderArgs = Parameters<typeof openProvider> extends [unknown, ...infer R] ? R : never;

/** The providers a suite opens on its server, all destroyed at its end. */
export class ProviderPool {
  readonly open: OpenProvider[] = [];

  constructor(private readonly server: () => DocumentsServer) {}

  readonly provider = async (...args: ProviderArgs): Promise<OpenProvider> => {
    const p = await openProvider(this.server(), ...args);
    this.open.push(p);
    return p;
  };

  destroyAll(): void {
    for (const p of this.open) p.destroy();
  }
}
