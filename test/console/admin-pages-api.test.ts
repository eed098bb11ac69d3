import { randomBytes } from 'node:crypto';
import { createStoredApiKey } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startWorkersServer, type WorkersServer } from '../helpers/workers-server.js';

/**
 * The routes behind the console's presence and errors pages: `GET /api/v1/presence` (who is
 * present where in a tenant) and `GET /api/v1/errors` (the typed errors answered, by code,
 * with redacted examples): exact counts of provoked errors on sockets and over HTTP, no
 * planted secret in any example, tenant scoping, 401/403, read-only keys, and the merge over
 * two nodes on Redis, and the workers of `serve --workers 2`.
 */

const CANARY = `CANARY${randomBytes(6).toString('hex')}`;
const POLL = { timeout: 30_000, interval: 100 };

interface ErrorList {
  errors: Array<{ code: number; name: string; count: number; recent: number; examples: Array<Record<string, unknown>> }>;
  nodes: number;
  complete: boolean;
}
interface PresenceList {
  present: Array<{ channel: string; members: Array<{ user: string; status: string; devices: Array<{ state?: unknown }> }> }>;
  channels: number;
  more: boolean;
}

async function call(base: string, path: string, key: string | null, opts: { method?: string; tenant?: string; body?: string } = {}) {
  const headers: Record<string, string> = {};
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (opts.tenant) headers['x-switchboard-tenant'] = opts.tenant;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${path}`, { method: opts.method ?? 'GET', headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

const counts = (list: ErrorList) => Object.fromEntries(list.errors.map((e) => [e.code, e.count]));
const tally = (codes: number[]) => {
  const t: Record<number, number> = {};
  for (const c of codes) t[c] = (t[c] ?? 0) + 1;
  return t;
};

describe('GET /api/v1/errors on one node', () => {
  let s: TestServer;
  const cleanup: Array<() => void> = [];
  /** Codes of the errors provoked in tenant acme, and of those before any tenant was known, as the server answered them. */
  const acme: number[] = [];
  const none: number[] = [];
  let token = '';

  beforeAll(async () => {
    s = await startTestServer();
    token = await s.token({ sub: 'sock', tenant: 'acme' });
    // Sockets: in tenant acme, after connect.
    const sock = await RawClient.connect(s.url, token);
    cleanup.push(() => sock.close());
    for (const [method, params] of [
      ['nosuch', { secret: CANARY }],
      ['nosuch', { token: CANARY }],
      ['subscribe', { channel: 'nosuchns:x' }],
      ['publish', { channel: 'user:someoneelse', data: { card: CANARY } }],
      ['publish', { channel: 'project:x' }],
    ] as const) {
      const reply = await sock.call(method, params);
      expect(reply.error, `${method} is refused`).toBeDefined();
      acme.push(reply.error?.code as number);
    }
    // Sockets: before a tenant is known (no connect; a bad token with a canary in it).
    const anon = await RawClient.open(s.url);
    cleanup.push(() => anon.close());
    none.push((await anon.call('subscribe', { channel: 'project:x' })).error?.code as number);
    none.push((await anon.call('connect', { token: `eyJhbGciOiJIUzI1NiJ9.${CANARY}.${CANARY}` })).error?.code as number);

    // HTTP: in tenant acme.
    const key = s.tenantKeys['acme'] as string;
    for (const [method, path, body] of [
      ['POST', '/publish', `{"channel":"project:x","data":"${CANARY}`],
      ['POST', '/publish', JSON.stringify({ channel: 'nosuchns:x', data: { card: CANARY } })],
      ['GET', '/channels/project:x/history?since_offset=abc', undefined],
    ] as const) {
      const res = await call(s.httpUrl, path, key, { method, ...(body !== undefined ? { body } : {}) });
      expect(res.status).toBeGreaterThanOrEqual(400);
      acme.push((res.body['error'] as { code: number }).code);
    }
    // HTTP: no tenant (a wrong key with a canary, no key, an unknown route).
    for (const [path, k] of [
      ['/channels', `sb_000000000000_${CANARY}`],
      ['/channels', null],
      [`/nosuch/${CANARY}`, key],
    ] as const) {
      const res = await call(s.httpUrl, path, k);
      none.push((res.body['error'] as { code: number }).code);
    }
  }, 60_000);
  afterAll(async () => {
    for (const fn of cleanup) fn();
    await s?.close();
  });

  it("counts exactly the errors provoked in a tenant, on sockets and over HTTP, for the tenant's key and for an admin naming it", async () => {
    expect(new Set(acme).size).toBeGreaterThanOrEqual(3);
    const own = (await call(s.httpUrl, '/errors', s.tenantKeys['acme'] as string)).body as unknown as ErrorList;
    expect(counts(own)).toEqual(tally(acme));
    expect(own.errors.every((e) => e.recent === e.count)).toBe(true);
    const named = (await call(s.httpUrl, '/errors?tenant=acme&minutes=15', s.apiKey)).body as unknown as ErrorList;
    expect(counts(named)).toEqual(tally(acme));
    expect(named).toMatchObject({ nodes: 1, complete: true });
    const socket = own.errors.flatMap((e) => e.examples).filter((x) => x['source'] === 'socket');
    const http = own.errors.flatMap((e) => e.examples).filter((x) => x['source'] === 'http');
    expect(socket.length).toBeGreaterThan(0);
    expect(http.map((x) => x['where'])).toContain('POST /api/v1/publish');
    expect(own.errors.flatMap((e) => e.examples).every((x) => x['tenant'] === 'acme')).toBe(true);
    for (const x of socket) expect(String(x['client'])).toMatch(/^.{6}…$/);
  });

  it('an admin key without a tenant sees every tenant and the errors of no tenant', async () => {
    const all = (await call(s.httpUrl, '/errors', s.apiKey)).body as unknown as ErrorList;
    expect(counts(all)).toEqual(tally([...acme, ...none]));
    expect(all.errors.find((e) => e.code === 117)?.name).toBe('NotFound');
    const notFound = all.errors.find((e) => e.code === 117)?.examples[0];
    expect(notFound).toMatchObject({ tenant: null, source: 'http', where: 'GET (no route)' });
  });

  it('no example holds a planted token, key, payload or secret', async () => {
    const answers = [
      (await call(s.httpUrl, '/errors', s.apiKey)).text,
      (await call(s.httpUrl, '/errors', s.tenantKeys['acme'] as string)).text,
      (await call(s.httpUrl, '/errors?tenant=acme', s.apiKey)).text,
    ];
    for (const text of answers) {
      for (const secret of [CANARY, token, s.apiKey, s.tenantKeys['acme'] as string]) expect(text).not.toContain(secret);
    }
  });

  it("a tenant key sees only its tenant's errors; naming another is refused; no key 401", async () => {
    const other = (await call(s.httpUrl, '/errors', s.tenantKeys['other'] as string)).body as unknown as ErrorList;
    expect(other.errors).toEqual([]);
    expect((await call(s.httpUrl, '/errors?tenant=acme', s.tenantKeys['other'] as string)).status).toBe(403);
    expect((await call(s.httpUrl, '/errors', null)).status).toBe(401);
    expect((await call(s.httpUrl, '/errors', 'sb_000000000000_wrongwrongwrongwrongwrongwrongwr')).status).toBe(401);
    expect((await call(s.httpUrl, '/errors?minutes=16', s.apiKey)).status).toBe(400);
    // The refusal of `other` naming acme counts for `other` (its key acted there), never for acme.
    const again = (await call(s.httpUrl, '/errors', s.tenantKeys['other'] as string)).body as unknown as ErrorList;
    expect(counts(again)).toEqual({ 103: 1 });
    expect(counts((await call(s.httpUrl, '/errors', s.tenantKeys['acme'] as string)).body as unknown as ErrorList)).toEqual(tally(acme));
  });

  it('a read-only key reads the errors and the presence, and is refused (158) what changes anything', async () => {
    const readOnly = createStoredApiKey(s.dataDir, null, true).key;
    expect((await call(s.httpUrl, '/errors', readOnly)).status).toBe(200);
    expect((await call(s.httpUrl, '/presence', readOnly, { tenant: 'acme' })).status).toBe(200);
    const refused = await call(s.httpUrl, '/publish', readOnly, { method: 'POST', tenant: 'acme', body: JSON.stringify({ channel: 'project:x', data: 1 }) });
    expect(refused.status).toBe(403);
    expect((refused.body['error'] as { code: number }).code).toBe(158);
    const disconnect = await call(s.httpUrl, '/users/sock/disconnect', readOnly, { method: 'POST', tenant: 'acme', body: '{}' });
    expect((disconnect.body['error'] as { code: number }).code).toBe(158);
  });
});

describe('GET /api/v1/presence', () => {
  let s: TestServer;
  const cleanup: Array<() => void> = [];
  beforeAll(async () => {
    s = await startTestServer();
    for (const [tenant, user, channel] of [
      ['acme', 'ann', 'project:1'],
      ['acme', 'bob', 'project:1'],
      ['acme', 'ann', 'chat:2'],
      ['other', 'zed', 'project:1'],
    ] as const) {
      const c = await connectedClient(s.url, () => s.token({ sub: user, tenant }), cleanup);
      const sub = c.subscribe(channel);
      await new Promise((r) => sub.once('subscribed', r));
      await sub.enterPresence({ page: `${user}-page` });
    }
    // Subscribed without presence: listed nowhere.
    const quiet = await connectedClient(s.url, () => s.token({ sub: 'quiet', tenant: 'acme' }), cleanup);
    const sub = quiet.subscribe('project:3');
    await new Promise((r) => sub.once('subscribed', r));
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    await s?.close();
  });

  it("lists the tenant's channels with members, their status and state, for its key and for an admin naming it", async () => {
    const read = async (key: string, tenant?: string) => (await call(s.httpUrl, '/presence', key, tenant ? { tenant } : {})).body as unknown as PresenceList;
    await expect.poll(async () => (await read(s.tenantKeys['acme'] as string)).present.map((p) => p.channel), POLL).toEqual(['chat:2', 'project:1']);
    const own = await read(s.tenantKeys['acme'] as string);
    expect(
      own.present
        .find((p) => p.channel === 'project:1')
        ?.members.map((m) => `${m.user}:${m.status}`)
        .sort(),
    ).toEqual(['ann:online', 'bob:online']);
    expect(own.present[0]?.members[0]?.devices[0]?.state).toEqual({ page: 'ann-page' });
    expect(own).toMatchObject({ more: false });
    expect(own.channels).toBeGreaterThanOrEqual(2);
    expect(await read(s.apiKey, 'acme')).toEqual(own);
    const other = await read(s.tenantKeys['other'] as string);
    expect(other.present.map((p) => p.members.map((m) => m.user))).toEqual([['zed']]);
  });

  it('narrows by prefix and limit, and says when more channels were not read', async () => {
    const key = s.tenantKeys['acme'] as string;
    const projects = (await call(s.httpUrl, '/presence?prefix=project:', key)).body as unknown as PresenceList;
    expect(projects.present.map((p) => p.channel)).toEqual(['project:1']);
    const one = (await call(s.httpUrl, '/presence?limit=1', key)).body as unknown as PresenceList;
    expect(one).toMatchObject({ channels: 1, more: true });
  });

  it('no key 401; an admin key must name the tenant; a tenant key naming another 403', async () => {
    expect((await call(s.httpUrl, '/presence', null)).status).toBe(401);
    expect((await call(s.httpUrl, '/presence', s.apiKey)).status).toBe(400);
    expect((await call(s.httpUrl, '/presence', s.tenantKeys['acme'] as string, { tenant: 'other' })).status).toBe(403);
  });
});

describe('GET /api/v1/errors over two nodes on Redis', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const config = {
      redis: 'redis://127.0.0.1:6379',
      redisPrefix: `sberrors-${randomBytes(4).toString('hex')}`,
      auth: { secret: `errors-test-secret-${randomBytes(16).toString('hex')}` },
    };
    a = await startTestServer(config);
    b = await startTestServer(config);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('merges the counts and examples of every node, as GET /connections does', async () => {
    const onA = await RawClient.connect(a.url, await a.token({ sub: 'x', tenant: 'acme' }));
    const onB = await RawClient.connect(b.url, await b.token({ sub: 'y', tenant: 'acme' }));
    for (const c of [onA, onB, onB]) expect((await c.call('nosuch', {})).error?.code).toBe(104);
    const list = (await call(a.httpUrl, '/errors?tenant=acme', a.apiKey)).body as unknown as ErrorList;
    expect(list).toMatchObject({ nodes: 2, complete: true });
    expect(counts(list)).toEqual({ 104: 3 });
    expect(new Set(list.errors[0]?.examples.map((x) => x['node'])).size).toBe(2);
    onA.close();
    onB.close();
  }, 60_000);
});

describe('GET /api/v1/errors over the workers of serve --workers 2', () => {
  let w: WorkersServer | undefined;
  const sockets: RawClient[] = [];
  afterAll(() => {
    for (const c of sockets) c.terminate();
    w?.kill();
  });

  it('merges the errors answered by every worker, whichever worker answers the route', async () => {
    w = await startWorkersServer({ workers: 2 });
    const server = w;
    // One connection on each worker (connections are spread over them), each refused one command.
    const byNode = new Map<string, RawClient>();
    for (let i = 0; i < 20 && byNode.size < 2; i++) {
      const c = await RawClient.connect(server.url, await server.token({ sub: `u${i}`, tenant: 'demo' }));
      sockets.push(c);
      const node = c.info['node'] as string;
      if (!byNode.has(node)) byNode.set(node, c);
    }
    expect(byNode.size).toBe(2);
    for (const c of byNode.values()) expect((await c.call('nosuch', {})).error?.code).toBe(104);
    for (let i = 0; i < 3; i++) {
      const list = (await call(server.httpUrl, '/errors?tenant=demo', server.apiKey)).body as unknown as ErrorList;
      expect(list).toMatchObject({ nodes: 2, complete: true });
      expect(counts(list)).toEqual({ 104: 2 });
      expect(new Set(list.errors[0]?.examples.map((x) => x['node']))).toEqual(new Set(byNode.keys()));
    }
  }, 90_000);
});
