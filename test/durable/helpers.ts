import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@switchboard/server/testing';
import pg from 'pg';
import { expect } from 'vitest';
import { type Frame, RawClient } from '../helpers/raw-client.js';
import { startTestServer, type TestServer, type TestTokenClaims } from '../helpers/server.js';

/**
 * Helpers of the durable-feature tests: every suite runs on both stores, SQLite in the
 * test server's temporary data directory and the real PostgreSQL in a fresh schema
 * (`sb_test_<random>`, dropped afterwards).
 */

export const STORES = ['sqlite', 'postgres'] as const;
export type StoreName = (typeof STORES)[number];

export const PG_URL = process.env['SB_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  /** The `database` option: '' for SQLite, a URL with its own search_path for PostgreSQL. */
  database: string;
  schema: string | null;
  drop(): Promise<void>;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A fresh database of the given store. */
export async function createTestDatabase(store: StoreName): Promise<TestDatabase> {
  if (store === 'sqlite') return { database: '', schema: null, drop: async () => {} };
  const schema = `sb_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  const sep = PG_URL.includes('?') ? '&' : '?';
  return {
    database: `${PG_URL}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    schema,
    drop: () => adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

/** Storage of its own on a fresh database of `store` (no migrations run), and how to close and drop it. */
export async function openTestStorage(store: StoreName): Promise<{ storage: Storage; db: TestDatabase; close(): Promise<void> }> {
  const db = await createTestDatabase(store);
  const dir = mkdtempSync(join(tmpdir(), 'sb-storage-'));
  const storage = Storage.open({ database: db.database, dataDir: dir });
  return {
    storage,
    db,
    close: async () => {
      await storage.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Overrides = Parameters<typeof startTestServer>[0];

export interface DurableServer extends TestServer {
  db: TestDatabase;
  api(method: string, path: string, opts?: CallOptions): Promise<ApiResponse>;
  /** A connected raw client of `user` (tenant acme unless given), subscribed to its personal channel. */
  device(user: string, claims?: Partial<TestTokenClaims>): Promise<RawClient>;
  /** Close the server and drop the database. */
  stop(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export interface CallOptions {
  /** API key; default: the acme tenant key; null for none. */
  key?: string | null;
  tenant?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/** Start a real server on a fresh database of `store`. */
export async function startDurableServer(store: StoreName, overrides: Overrides = {}, existing?: TestDatabase): Promise<DurableServer> {
  const db = existing ?? (await createTestDatabase(store));
  const s = await startTestServer({ ...overrides, database: db.database });
  const api = async (method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...opts.headers };
    const key = opts.key === undefined ? s.tenantKeys['acme'] : opts.key;
    if (key !== null && key !== undefined) headers['authorization'] = `Bearer ${key}`;
    if (opts.tenant !== undefined) headers['x-switchboard-tenant'] = opts.tenant;
    const payload = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${s.httpUrl}/api/v1${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // tests that care read `text`
    }
    return { status: res.status, body, text };
  };
  const device = async (user: string, claims: Partial<TestTokenClaims> = {}): Promise<RawClient> => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, ...claims }));
    const reply = await c.call('subscribe', { channel: `user:${user}` });
    expect(reply.error, 'subscribe to the personal channel').toBeUndefined();
    return c;
  };
  return {
    ...s,
    db,
    api,
    device,
    async stop() {
      await s.close();
      if (!existing) await db.drop();
    },
  };
}

/** Expect an API error with the standard shape. */
export function expectApiError(res: ApiResponse, status: number, code: number, message?: RegExp): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({ error: { code, message: expect.any(String), temporary: expect.any(Boolean) } });
  if (message) expect((res.body['error'] as { message: string }).message).toMatch(message);
}

/** Pushes of a kind (`notification`, `unread`, `activity`) on a channel, in arrival order. */
export function pushes(c: RawClient, channel: string, kind: string): Array<Record<string, unknown>> {
  return c
    .pushes('pub', channel)
    .map((f) => f['data'] as Record<string, unknown>)
    .filter((d) => d['kind'] === kind);
}

/** Wait for a push on a channel whose data matches. */
export function waitPush(c: RawClient, channel: string, match: (data: Record<string, unknown>) => boolean, timeout = 5000): Promise<Frame> {
  return c.waitFor((f) => f.push === 'pub' && f['channel'] === channel && match(f['data'] as Record<string, unknown>), timeout);
}

export const reply = <T = Record<string, unknown>>(f: Frame): T => {
  expect(f.error, JSON.stringify(f.error)).toBeUndefined();
  return f.result as T;
};
