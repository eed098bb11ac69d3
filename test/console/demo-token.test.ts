import { generateKeyPairSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * POST /api/v1/demo/token, the demo workspace's tokens: there only in development mode or
 * with `console.demo: true`, always for tenant `demo` and only its `demo:*` channels,
 * short-lived, and rate-limited per IP address.
 */

const servers: TestServer[] = [];
const clients: RawClient[] = [];
const WAIT = 30_000;

async function server(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(overrides);
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const c of clients) c.ws.close();
  for (const s of servers) await s.close();
});

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown> & { error?: { code: number; message: string; retryAfter?: number } };
}

async function demoToken(s: TestServer, body: unknown): Promise<Answer> {
  const res = await fetch(`${s.httpUrl}/api/v1/demo/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Answer['json'] };
}

/** The claims of a JWT, unverified (the server checks them when the token connects). */
function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function connect(s: TestServer, token: string): Promise<RawClient> {
  const c = await RawClient.connect(s.url, token);
  clients.push(c);
  return c;
}

describe('POST /api/v1/demo/token', () => {
  it('does not exist in production mode (the plain 404 of an unknown route), nor with the console off; with console.demo it does, and needs the HMAC secret (503 without)', async () => {
    const production = await server({ development: false, auth: { secret: 's'.repeat(32) } } as never);
    const answer = await demoToken(production, { user: 'ann' });
    expect(answer.status).toBe(404);
    expect(answer.json.error?.code).toBe(117);
    // Exactly what an unknown route answers: no hint that the route exists elsewhere.
    expect(answer.json).toEqual({ error: { code: 117, message: 'not found: no such route', temporary: false } });
    const doc = (await (await fetch(`${production.httpUrl}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(doc.paths['/demo/token']).toBeUndefined();

    const off = await server({ console: { enabled: false } } as never);
    expect((await demoToken(off, { user: 'ann' })).status).toBe(404);

    // Production with the demo switched on explicitly: there.
    const kept = await server({ development: false, auth: { secret: 's'.repeat(32) }, console: { demo: true } } as never);
    const ok = await demoToken(kept, { user: 'ann' });
    expect(ok.status).toBe(200);
    expect(ok.json['tenant']).toBe('demo');

    // Kept, but the server verifies tokens by public key only: nothing to mint with.
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keyOnly = await server({ development: false, auth: { publicKeys: [{ alg: 'ES256', pem }] }, console: { demo: true } } as never);
    const unavailable = await demoToken(keyOnly, { user: 'ann' });
    expect(unavailable.status).toBe(503);
    expect(unavailable.json.error?.code).toBe(116);
  }, 60_000);

  it('always mints for tenant demo, on demo:* channels and the demo.* metric series only, with the name as token info; bad input is refused', async () => {
    const s = await server();
    const ok = await demoToken(s, { user: 'ann', name: 'Ann <b>Lee</b>' });
    expect(ok.status).toBe(200);
    const caps = {
      'demo:*': ['subscribe', 'publish', 'presence', 'history', 'signal', 'comment'],
      'demo:plan': ['lock'],
      'metrics:demo.*': ['subscribe'],
    };
    expect(ok.json).toMatchObject({ tenant: 'demo', user: 'ann', capabilities: caps });
    const c = claims(ok.json['token'] as string);
    expect(c).toMatchObject({ sub: 'ann', tenant: 'demo', caps, info: { name: 'Ann <b>Lee</b>' } });
    expect(c['caps']).toEqual(caps);

    // Naming a tenant, or any other field, is refused: the tenant is never the caller's to choose.
    for (const body of [
      { user: 'ann', tenant: 'acme' },
      { user: 'ann', caps: { 'project:*': ['subscribe'] } },
      { user: '' },
      { user: 'a'.repeat(33) },
      { user: '<script>' },
      { user: 'ann lee' },
      { user: 'ann', name: '' },
      { user: 'ann', name: 'x'.repeat(41) },
      { user: 'ann', name: 'line\nbreak' },
      {},
      'ann',
    ]) {
      const refused = await demoToken(s, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.json.error?.code).toBe(107);
    }
  }, 60_000);

  it('the token reaches demo:* channels of tenant demo and nothing else: no other namespace, no other tenant', async () => {
    const s = await server();
    const token = (await demoToken(s, { user: 'ann' })).json['token'] as string;
    const ann = await connect(s, token);
    expect((await ann.call('subscribe', { channel: 'demo:board' }, WAIT)).error).toBeUndefined();
    expect((await ann.call('presence_set', { channel: 'demo:board', state: { name: 'Ann' } }, WAIT)).error).toBeUndefined();
    expect((await ann.call('publish', { channel: 'demo:board', data: { hello: 1 } }, WAIT)).error).toBeUndefined();
    // (Namespaces open to every connected user of a tenant, `system` and `dashboard`, stay open: within tenant demo.)
    for (const channel of ['project:1', 'chat:lobby', 'analytics:demo', 'user:bob', 'metrics:cpu', 'doc:1', 'form:1']) {
      const refused = await ann.call('subscribe', { channel }, WAIT);
      expect(refused.error?.code, channel).toBe(103);
    }
    expect((await ann.call('publish', { channel: 'project:1', data: 1 }, WAIT)).error?.code).toBe(103);
    // Its own notification channel, as every user has.
    expect((await ann.call('subscribe', { channel: 'user:ann' }, WAIT)).error).toBeUndefined();
    // Locks on demo:plan only (the lock panel's channel), and never another holder's lock taken back.
    const granted = await ann.call('locks.acquire', { channel: 'demo:plan', key: 'plan' }, WAIT);
    expect(granted.error).toBeUndefined();
    expect((granted.result as { fencingToken: number }).fencingToken).toBeGreaterThan(0);
    expect((await ann.call('locks.acquire', { channel: 'demo:board', key: 'plan' }, WAIT)).error?.code).toBe(103);
    expect((await ann.call('locks.release', { channel: 'demo:plan', key: 'plan', force: true }, WAIT)).error?.code).toBe(103);
    expect((await ann.call('locks.release', { channel: 'demo:plan', key: 'plan' }, WAIT)).error).toBeUndefined();
    // The shared note: a document of the demo namespace, opened and changed with subscribe and publish.
    const note = await ann.call('documents.open', { name: 'demo:notes', stateVector: 'AA==' }, WAIT);
    expect(note.error).toBeUndefined();
    expect((note.result as { writable: boolean }).writable).toBe(true);
    expect((await ann.call('documents.open', { name: 'doc:1', stateVector: 'AA==' }, WAIT)).error?.code).toBe(103);

    // Present in tenant demo only: the demo tenant's key sees ann, another tenant's demo:board is empty.
    const presence = async (tenant: string) => {
      const res = await fetch(`${s.httpUrl}/api/v1/channels/demo:board/presence`, { headers: { authorization: `Bearer ${s.tenantKeys[tenant]}` } });
      return ((await res.json()) as { members: Array<{ user: string }> }).members.map((m) => m.user);
    };
    expect(await presence('demo')).toEqual(['ann']);
    expect(await presence('acme')).toEqual([]);
    // A publication in acme's demo:board never reaches ann's demo:board.
    const before = ann.pushes('pub', 'demo:board').length;
    const acme = await connect(s, await s.token({ sub: 'eve', tenant: 'acme', caps: { 'demo:*': ['subscribe', 'publish'] } }));
    expect((await acme.call('publish', { channel: 'demo:board', data: { from: 'acme' } }, WAIT)).error).toBeUndefined();
    const marker = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys['demo']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'demo:board', data: { from: 'demo' } }),
    });
    expect(marker.status).toBe(200);
    await ann.waitFor((f) => JSON.stringify(f).includes('"from":"demo"'), WAIT);
    expect(JSON.stringify(ann.frames.slice(before))).not.toContain('"from":"acme"');
  }, 60_000);

  it('is short-lived: the token expires after 10 minutes and is then refused at connect (109)', async () => {
    let clock = Date.now();
    const s = await server({ now: () => clock });
    const answer = await demoToken(s, { user: 'ann' });
    const c = claims(answer.json['token'] as string);
    expect((c['exp'] as number) - (c['iat'] as number)).toBe(600);
    expect(answer.json['expiresAt']).toBe((c['exp'] as number) * 1000);
    await connect(s, answer.json['token'] as string);
    clock += 11 * 60_000;
    const late = await RawClient.open(s.url);
    clients.push(late);
    const refused = await late.call('connect', { token: answer.json['token'] }, WAIT);
    expect(refused.error?.code).toBe(109);
  }, 60_000);

  it('is rate-limited per IP address: 20 tokens, then 429 (code 111) with Retry-After, then 20 a minute', async () => {
    let clock = Date.now();
    const s = await server({ now: () => clock });
    for (let i = 0; i < 20; i++) expect((await demoToken(s, { user: `u${i}` })).status).toBe(200);
    const limited = await demoToken(s, { user: 'one-more' });
    expect(limited.status).toBe(429);
    expect(limited.json.error?.code).toBe(111);
    expect(limited.json.error?.retryAfter).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    clock += 3_000;
    expect((await demoToken(s, { user: 'later' })).status).toBe(200);
    expect((await demoToken(s, { user: 'too-soon' })).status).toBe(429);
    clock += 60_000;
    for (let i = 0; i < 20; i++) expect((await demoToken(s, { user: `v${i}` })).status).toBe(200);
    expect((await demoToken(s, { user: 'again' })).status).toBe(429);
  }, 60_000);
});
