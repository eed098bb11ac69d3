import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectedClient } from '../helpers/sdk-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The HTTP routes the console's admin view calls, and what `switchboard serve` prints for
 * it: no key 401; a tenant key sees its own tenant only; an admin key every tenant; one
 * connection disconnected by its id; keys never written to the logs.
 */
/** How keys are stored: their SHA-256, hex. */
const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');
const BIN = join(import.meta.dirname, '..', '..', 'packages', 'server', 'bin', 'switchboard.js');

let s: TestServer;
const logs: string[] = [];
const cleanup: Array<() => void> = [];

async function call(path: string, key: string | null, opts: { method?: string; tenant?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (opts.tenant) headers['x-switchboard-tenant'] = opts.tenant;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, {
    method: opts.method ?? 'GET',
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface Listed {
  connections: Array<{ client: string; tenant: string; user: string; ip: string }>;
  total: number;
}

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  s = await startTestServer({ logLevel: 'trace', logger: pino({ level: 'trace' }, sink) });
  for (const [tenant, user] of [
    ['acme', 'alice'],
    ['acme', 'alina'],
    ['other', 'alice'],
  ] as const) {
    await connectedClient(s.url, () => s.token({ sub: user, tenant }), cleanup);
  }
});
afterAll(async () => {
  for (const fn of cleanup) fn();
  await s?.close();
});

describe('the admin routes of the console', () => {
  it('answer 401 without a key or with a wrong one', async () => {
    for (const path of ['/key', '/connections']) {
      expect((await call(path, null)).status).toBe(401);
      expect((await call(path, 'sb_0_wrong')).status).toBe(401);
    }
  });

  it('an admin key lists every tenant, narrowed by tenant, user and IP', async () => {
    const all = (await call('/connections', s.apiKey)).body as unknown as Listed;
    expect(all.total).toBe(3);
    expect(all.connections.map((c) => `${c.tenant}/${c.user}`).sort()).toEqual(['acme/alice', 'acme/alina', 'other/alice']);
    const acme = (await call('/connections?tenant=acme', s.apiKey)).body as unknown as Listed;
    expect(acme.connections.map((c) => c.user).sort()).toEqual(['alice', 'alina']);
    const alice = (await call('/connections?user=ALICE', s.apiKey)).body as unknown as Listed;
    expect(alice.connections.map((c) => c.tenant).sort()).toEqual(['acme', 'other']);
    expect(((await call('/connections?ip=127.0.0', s.apiKey)).body as unknown as Listed).total).toBe(3);
    expect(((await call('/connections?ip=10.9.', s.apiKey)).body as unknown as Listed).total).toBe(0);
    const counted = (await call('/connections?limit=0', s.apiKey)).body as unknown as Listed;
    expect(counted).toMatchObject({ connections: [], total: 3 });
    expect((await call('/connections?limit=501', s.apiKey)).status).toBe(400);
  });

  it('a tenant key sees its own tenant only, and naming another tenant is refused with 403', async () => {
    const own = (await call('/connections', s.tenantKeys['acme'] as string)).body as unknown as Listed;
    expect(own.connections.map((c) => `${c.tenant}/${c.user}`).sort()).toEqual(['acme/alice', 'acme/alina']);
    const named = await call('/connections?tenant=other', s.tenantKeys['acme'] as string);
    expect(named.status).toBe(403);
    expect(named.body['error']).toMatchObject({ code: 103 });
    expect((await call('/connections?tenant=acme', s.tenantKeys['acme'] as string)).status).toBe(200);
    expect((await call('/key', s.tenantKeys['acme'] as string)).body).toMatchObject({ admin: false, tenant: 'acme', readOnly: false });
    // Admin-only routes stay admin-only.
    expect((await call('/tenants/acme/quotas', s.tenantKeys['acme'] as string)).status).toBe(403);
  });

  it('disconnects one connection of a user by its id, leaving the user’s others open', async () => {
    const first = await connectedClient(s.url, () => s.token({ sub: 'twice' }), cleanup);
    const second = await connectedClient(s.url, () => s.token({ sub: 'twice' }), cleanup);
    const listed = (await call('/connections?user=twice', s.tenantKeys['acme'] as string)).body as unknown as Listed;
    expect(listed.total).toBe(2);
    // Which listed connection is `first` is not known from the client: close one, see which client noticed.
    const target = listed.connections[0]?.client as string;
    const noticed = new Promise<string>((resolve) => {
      first.once('disconnected', (r) => resolve(`first ${r.code} ${r.reason}`));
      second.once('disconnected', (r) => resolve(`second ${r.code} ${r.reason}`));
    });
    const res = await call('/users/twice/disconnect', s.apiKey, { method: 'POST', tenant: 'acme', body: { client: target, reason: 'one of two' } });
    expect(res.status).toBe(200);
    const gone = await noticed;
    expect(gone).toMatch(/^(first|second) 3502 one of two$/);
    const after = (await call('/connections?user=twice', s.apiKey)).body as unknown as Listed;
    expect(after.connections.map((c) => c.client)).toEqual(listed.connections.map((c) => c.client).filter((c) => c !== target));
    expect((gone.startsWith('first') ? second : first).state).toBe('connected');
  });

  it("mints the console's connection token for an admin key only: 401 without a key, 403 for a tenant key; the token connects, reaches no app channel and follows the system scope with a grant", async () => {
    expect((await call('/console/token', null, { method: 'POST', body: {} })).status).toBe(401);
    const tenant = await call('/console/token', s.tenantKeys['acme'] as string, { method: 'POST', body: {} });
    expect(tenant.status).toBe(403);
    expect((tenant.body['error'] as { code: number }).code).toBe(103);
    const minted = await call('/console/token', s.apiKey, { method: 'POST', body: {} });
    expect(minted.status).toBe(200);
    const keyId = (await call('/key', s.apiKey)).body['id'];
    expect(minted.body).toMatchObject({ tenant: '_console', user: `console-${keyId}` });
    const expiresAt = minted.body['expiresAt'] as number;
    expect(expiresAt - Date.now()).toBeGreaterThan(200_000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(300_000);
    const token = minted.body['token'] as string;
    const client = await connectedClient(s.url, async () => token, cleanup);
    // No capability: an app channel is refused.
    const room = client.subscribe('project:secret');
    const refused = await new Promise<number>((resolve) => room.once('error', (e: { error: { code: number } }) => resolve(e.error.code)));
    expect(refused).toBe(103);
    // With a grant the admin key minted, the system scope is followed live.
    const grant = (await call('/metrics/system/grants', s.apiKey, { method: 'POST', body: {} })).body['grant'] as string;
    const sub = client.metrics.subscribe({
      scope: 'system',
      grant,
      series: ['sb.connections'],
      labels: { node: s.server.node.id },
      window: '10s',
      stats: ['last'],
    });
    expect((await sub.ready).series[0]?.series).toBe('sb.connections');
    await sub.unsubscribe();
    client.disconnect();
  });

  it('never writes a key to the logs, valid, wrong or read-only', async () => {
    const wrong = 'sb_aaaaaaaaaaaa_thisisnotakeythisisnotakeythisisno';
    await call('/connections', wrong);
    await call('/publish', s.tenantKeys['acme'] as string, { method: 'POST', body: { channel: 'nosuch:x', data: 1 } });
    await call('/connections', s.apiKey);
    expect(logs.length).toBeGreaterThan(0);
    const text = logs.join('');
    for (const key of [wrong, s.apiKey, s.tenantKeys['acme'] as string, s.tenantKeys['other'] as string]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(hashApiKey(key));
    }
  });
});

/** Start `switchboard serve` with these flags and environment, and return its banner (up to the last line it prints). */
async function banner(flags: string[], env: NodeJS.ProcessEnv, last: RegExp): Promise<{ out: string; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-console-banner-'));
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], ...env },
  });
  let out = '';
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner: ${out}`)), 60_000);
      child.stdout.on('data', (d) => {
        out += d;
        if (last.test(out)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return { out, dataDir };
}

describe('the banner of switchboard serve', () => {
  it('prints the console address and, in development mode, the admin link with the key in the fragment — also with API keys fixed by environment', async () => {
    const fixed = JSON.stringify([{ id: 'ops', hash: hashApiKey('sb_ops_fixedfixedfixedfixedfixedfixedfixed'), tenant: null }]);
    const { out, dataDir } = await banner([], { SWITCHBOARD_API_KEYS: fixed }, /Try it:.*\n/);
    try {
      const port = (/listening on port (\d+)/.exec(out) as RegExpExecArray)[1];
      const key = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim();
      expect(out).toContain(`  Console:    http://127.0.0.1:${port}/console/\n`);
      expect(out).toContain(`  Admin console: http://127.0.0.1:${port}/console/admin#key=${encodeURIComponent(key)}\n`);
      expect(out).toContain(`  Demo:          http://127.0.0.1:${port}/console/demo   (open it in two windows, join under two names)\n`);
      expect(out).toContain('Development mode');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('prints no admin link in production mode, and no console line when the console is off', async () => {
    const production = await banner(['--development', 'false', '--secret', 's'.repeat(40)], {}, /Health:.*\n[\s\S]*Browser SDK[^\n]*\n[^\n]*\n/);
    try {
      expect(production.out).toMatch(/ {2}Console: {4}http:\/\/127\.0\.0\.1:\d+\/console\/\n/);
      expect(production.out).not.toContain('Admin console');
      expect(production.out).not.toContain('#key=');
    } finally {
      rmSync(production.dataDir, { recursive: true, force: true });
    }
    const off = await banner(['--console.enabled', 'false'], {}, /Try it:.*\n/);
    try {
      expect(off.out).not.toContain('Console:');
      expect(off.out).not.toContain('Admin console');
      expect(off.out).not.toContain('/console/demo');
    } finally {
      rmSync(off.dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
