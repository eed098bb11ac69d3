import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTransient } from '@switchboard/server/testing';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { createTestDatabase, expectApiError, PG_URL, STORES, startDurableServer } from './helpers.js';

/**
 * A store that is unreachable (PostgreSQL behind a proxy that goes away) or busy (SQLite
 * locked by another connection) answers 503 / Unavailable (116, temporary), writes
 * nothing, and the same request succeeds once the store is back.
 */

/** A TCP proxy to PostgreSQL that can be cut and restored on the same port. */
async function pgProxy(): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  await listen();
  return { port, cut, restore: listen, close: cut };
}

describe.each(STORES)('storage unavailable on %s', (store) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('answers 503 Unavailable (temporary) while the store is down, and works again after', async () => {
    const db = await createTestDatabase(store);
    cleanup.push(() => db.drop());
    let database = db.database;
    let down: () => Promise<void>;
    let up: () => Promise<void>;
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-unavail-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    if (store === 'postgres') {
      const proxy = await pgProxy();
      cleanup.push(() => proxy.close());
      database = db.database.replace(/@[^/]+\//, `@127.0.0.1:${proxy.port}/`);
      down = proxy.cut;
      up = proxy.restore;
    } else {
      // Another connection holds the write lock past busy_timeout.
      const other = new SqliteDatabase(join(dataDir, 'switchboard.db'));
      cleanup.push(() => {
        other.close();
      });
      down = async () => {
        other.exec('BEGIN IMMEDIATE');
      };
      up = async () => {
        other.exec('ROLLBACK');
      };
    }
    const s = await startDurableServer(store, { keepDataDir: dataDir, database }, { ...db, database });
    cleanup.push(() => s.close());
    const admin = { key: s.apiKey, tenant: 'acme' };
    const create = () => s.api('POST', '/notifications', { ...admin, body: { user: 'u', type: 'system', title: 'x' } });
    expect((await create()).status).toBe(201);

    await down();
    const res = await create();
    expectApiError(res, 503, 116);
    expect((res.body['error'] as { temporary: boolean }).temporary).toBe(true);
    await up();

    expect((await create()).status).toBe(201);
    const list = await s.api('GET', '/notifications?user=u', admin);
    expect((list.body['notifications'] as unknown[]).length).toBe(2);
  }, 30_000);
});

describe('SQLite write lock held by another process', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('a write waits for the lock without stopping the node, and lands once the lock is let go', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-busy-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const s = await startDurableServer('sqlite', { keepDataDir: dataDir });
    cleanup.push(() => s.close());
    const admin = { key: s.apiKey, tenant: 'acme' };
    const other = new SqliteDatabase(join(dataDir, 'switchboard.db'));
    cleanup.push(() => {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    });

    other.exec('BEGIN IMMEDIATE');
    let settled = false;
    const waiting = s.api('POST', '/notifications', { ...admin, body: { user: 'u', type: 'system', title: 'waited' } }).finally(() => {
      settled = true;
    });
    // While the write waits, the node answers other requests (SQLite's own busy_timeout would block its event loop).
    for (let i = 0; i < 5; i++) expect((await fetch(`${s.httpUrl}/healthz`)).status).toBe(200);
    expect(settled).toBe(false);
    other.exec('ROLLBACK');
    expect((await waiting).status).toBe(201);
    const list = await s.api('GET', '/notifications?user=u', admin);
    expect((list.body['notifications'] as Array<{ title: string }>).map((n) => n.title)).toEqual(['waited']);
  }, 30_000);
});

describe('readiness follows the database', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  const readyz = async (url: string) => {
    const res = await fetch(`${url}/readyz`);
    return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
  };

  it('PostgreSQL unreachable: /readyz answers 503 naming the database, and 200 once it is back', async () => {
    const db = await createTestDatabase('postgres');
    cleanup.push(() => db.drop());
    const proxy = await pgProxy();
    cleanup.push(() => proxy.close());
    const database = db.database.replace(/@[^/]+\//, `@127.0.0.1:${proxy.port}/`);
    const s = await startDurableServer('postgres', { database }, { ...db, database });
    cleanup.push(() => s.close());
    expect(await readyz(s.httpUrl)).toMatchObject({ status: 200, body: { status: 'ready', checks: { engine: 'ok', database: 'ok' } } });
    await proxy.cut();
    await eventually(async () => (await readyz(s.httpUrl)).status === 503, 15_000, '/readyz 503');
    const down = await readyz(s.httpUrl);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.checks.engine).toBe('ok');
    expect(down.body.checks.database).not.toBe('ok');
    await proxy.restore();
    await eventually(async () => (await readyz(s.httpUrl)).status === 200, 15_000, '/readyz 200 again');
  }, 40_000);

  it('SQLite file gone: /readyz answers 503 naming the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-gone-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const s = await startDurableServer('sqlite', { keepDataDir: dataDir });
    cleanup.push(() => s.close());
    expect((await readyz(s.httpUrl)).status).toBe(200);
    rmSync(join(dataDir, 'switchboard.db'));
    await eventually(async () => (await readyz(s.httpUrl)).status === 503, 15_000, '/readyz 503');
    expect((await readyz(s.httpUrl)).body.checks.database).toContain('switchboard.db is gone');
  }, 40_000);
});

describe('transient storage errors', () => {
  it('tells unreachable or busy stores from bugs', () => {
    expect(isTransient(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { code: 'SQLITE_BUSY' }))).toBe(true);
    expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { code: '42P01' }))).toBe(false);
    expect(isTransient(new Error('syntax error'))).toBe(false);
    expect(isTransient(null)).toBe(false);
  });
});
