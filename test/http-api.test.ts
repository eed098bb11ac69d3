import { defineRoute } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The HTTP API over a real listener: auth and tenancy, the error shape of every failure,
 * and publishing (publish, broadcast, batch) checked by real WebSocket subscribers.
 */

interface ApiResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

interface CallOptions {
  key?: string | null;
  tenant?: string;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
}

let s: TestServer;

async function api(method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? s.tenantKeys['acme'] : opts.key;
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (opts.tenant !== undefined) headers['x-switchboard-tenant'] = opts.tenant;
  const payload = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
  if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: tests that care compare `text`
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A connected WebSocket client of a tenant, subscribed to the channels. */
async function subscriber(tenant: string, user: string, channels: string[], caps?: Record<string, string[]>): Promise<RawClient> {
  const c = await RawClient.connect(s.url, await s.token({ sub: user, tenant, ...(caps ? { caps } : {}) }));
  for (const channel of channels) {
    const reply = await c.call('subscribe', { channel });
    expect(reply.error, `subscribe ${channel}`).toBeUndefined();
  }
  return c;
}

const pubs = (c: RawClient, channel: string) => c.pushes('pub', channel);

function expectError(res: ApiResponse, status: number, code: number, temporary = false): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({ error: { code, message: expect.any(String), temporary } });
  expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

beforeAll(async () => {
  s = await startTestServer({
    limits: { httpBodyBytes: 4096, httpBatchSize: 3, historyPageSize: 5 },
    namespaces: {
      project: {},
      chat: {},
      analytics: { clientPublish: false, presence: false },
      small: { maxPublicationBytes: 64 },
    },
    features: [
      {
        name: 'boom',
        routes: () => [
          defineRoute({
            method: 'GET',
            url: '/boom',
            operationId: 'boom',
            tag: 'test',
            summary: 'Fails with an unexpected error',
            response: z.object({}),
            async handler() {
              throw new Error('secret internal detail');
            },
          }),
        ],
      },
    ],
  });
});
afterAll(async () => {
  await s.close();
});

describe('HTTP API authentication', () => {
  it('answers 401 with the error shape when the Authorization header is missing', async () => {
    const res = await api('POST', '/publish', { key: null, body: { channel: 'project:1', data: 1 } });
    expectError(res, 401, 101);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('answers 401 for an unknown key, a non-Bearer scheme and an oversized key', async () => {
    expectError(await api('GET', '/channels', { key: 'sb_nope_nope' }), 401, 101);
    const basic = await fetch(`${s.httpUrl}/api/v1/channels`, { headers: { authorization: `Basic ${s.tenantKeys['acme']}` } });
    expect(basic.status).toBe(401);
    expectError(await api('GET', '/channels', { key: 'x'.repeat(600) }), 401, 101);
  });

  it('never echoes the presented key in an error', async () => {
    const res = await api('GET', '/channels', { key: 'sb_secretvalue_abc' });
    expect(res.text).not.toContain('secretvalue');
  });

  it('requires an admin key to name the tenant, and validates it', async () => {
    const missing = await api('POST', '/publish', { key: s.apiKey, body: { channel: 'project:1', data: 1 } });
    expectError(missing, 400, 107);
    expect(missing.body['error']).toMatchObject({ message: expect.stringContaining('X-Switchboard-Tenant') });
    expectError(await api('POST', '/publish', { key: s.apiKey, tenant: 'bad|tenant', body: { channel: 'project:1', data: 1 } }), 400, 107);
    const ok = await api('POST', '/publish', { key: s.apiKey, tenant: 'demo', body: { channel: 'project:admin', data: 1 } });
    expect(ok.status).toBe(200);
  });

  it('accepts a tenant key naming its own tenant', async () => {
    const res = await api('GET', '/channels', { tenant: 'acme' });
    expect(res.status).toBe(200);
  });

  const everyRoute: Array<[string, string, unknown?]> = [
    ['POST', '/publish', { channel: 'project:1', data: 1 }],
    ['POST', '/broadcast', { channels: ['project:1'], data: 1 }],
    ['POST', '/batch', { publications: [{ channel: 'project:1', data: 1 }] }],
    ['GET', '/channels/project:1/history'],
    ['GET', '/channels/project:1/presence'],
    ['GET', '/channels/project:1/presence/stats'],
    ['GET', '/channels'],
    ['POST', '/users/alice/disconnect', {}],
    ['POST', '/users/alice/unsubscribe', { channel: 'project:1' }],
  ];

  it.each(everyRoute)('%s %s answers 403 when a tenant key names another tenant, and 401 without a key', async (method, path, body) => {
    expectError(await api(method, path, { tenant: 'other', body }), 403, 103);
    expectError(await api(method, path, { key: null, body }), 401, 101);
  });

  it('refuses a tenant key naming another tenant before doing anything', async () => {
    const victim = await subscriber('other', 'victim', []);
    expectError(await api('POST', '/users/victim/disconnect', { tenant: 'other' }), 403, 103);
    const pong = await victim.call('ping');
    expect(pong.error).toBeUndefined();
    expect(victim.closeCode).toBeNull();
    victim.close();
  });
});

describe('HTTP API tenancy', () => {
  it('a tenant key publishes in its own tenant only: a client of another tenant on the same channel name receives nothing', async () => {
    const acme = await subscriber('acme', 'alice', ['project:iso']);
    const other = await subscriber('other', 'olga', ['project:iso']);
    const res = await api('POST', '/publish', { body: { channel: 'project:iso', data: { from: 'acme' } } });
    expect(res.status).toBe(200);
    const got = await acme.waitFor((f) => f.push === 'pub' && f['channel'] === 'project:iso');
    expect(got['data']).toEqual({ from: 'acme' });
    // A marker in tenant "other": anything leaked from acme would have arrived before it.
    const marker = await api('POST', '/publish', { key: s.tenantKeys['other'], body: { channel: 'project:iso', data: { from: 'other' } } });
    expect(marker.body).toMatchObject({ offset: 1 });
    await other.waitFor((f) => f.push === 'pub' && f['channel'] === 'project:iso');
    expect(pubs(other, 'project:iso').map((f) => f['data'])).toEqual([{ from: 'other' }]);
    acme.close();
    other.close();
  });

  it('an admin key acts in the tenant it names, and history is per tenant', async () => {
    const other = await subscriber('other', 'olga', ['project:adm']);
    await api('POST', '/publish', { key: s.apiKey, tenant: 'other', body: { channel: 'project:adm', data: 'for other' } });
    expect((await other.waitFor((f) => f.push === 'pub'))['data']).toBe('for other');
    const acmeHistory = await api('GET', '/channels/project:adm/history');
    expect(acmeHistory.body['publications']).toEqual([]);
    const otherHistory = await api('GET', '/channels/project:adm/history', { key: s.tenantKeys['other'] });
    expect((otherHistory.body['publications'] as Array<{ data: unknown }>).map((p) => p.data)).toEqual(['for other']);
    other.close();
  });
});

describe('HTTP API errors and hostile input', () => {
  it('answers 404 in the error shape for an unknown route or method', async () => {
    expectError(await api('GET', '/nope'), 404, 117);
    expectError(await api('GET', '/publish'), 404, 117);
  });

  it('answers 400 for malformed JSON and 415 for a body that is not JSON', async () => {
    const bad = await api('POST', '/publish', { rawBody: '{"channel": "project:1", "data": ' });
    expectError(bad, 400, 107);
    expect(bad.text).toContain('not valid JSON');
    expectError(await api('POST', '/publish', { rawBody: 'channel=project:1', contentType: 'application/x-www-form-urlencoded' }), 415, 107);
    expectError(await api('POST', '/publish', { rawBody: 'hello', contentType: 'text/plain' }), 415, 107);
  });

  it('answers 400 naming the field when the body does not match the schema', async () => {
    const noBody = await api('POST', '/publish');
    expectError(noBody, 400, 107);
    expect(noBody.text).toContain('body:');
    const noData = await api('POST', '/publish', { body: { channel: 'project:1' } });
    expectError(noData, 400, 107);
    expect(noData.text).toContain('body.data');
    const wrongType = await api('POST', '/publish', { body: { channel: 42, data: 1 } });
    expect(wrongType.text).toContain('body.channel');
    const extra = await api('POST', '/publish', { body: { channel: 'project:1', data: 1, chanel: 'x' } });
    expectError(extra, 400, 107);
    expect(extra.text).toContain('chanel');
    const arrayBody = await api('POST', '/publish', { body: [1, 2] });
    expectError(arrayBody, 400, 107);
  });

  it('answers 400 for numbers that overflow and nesting deeper than the limit', async () => {
    const huge = await api('POST', '/publish', { rawBody: '{"channel":"project:1","data":1e400}' });
    expectError(huge, 400, 107);
    expect(huge.text).toContain('out of range');
    const deep = await api('POST', '/publish', { rawBody: `{"channel":"project:1","data":${'['.repeat(40)}${']'.repeat(40)}}` });
    expectError(deep, 400, 107);
    expect(deep.text).toContain('nesting');
  });

  it('treats __proto__ keys as plain data: delivered as is, nothing polluted, refused where a field is unknown', async () => {
    const c = await subscriber('acme', 'alice', ['project:proto']);
    const res = await api('POST', '/publish', {
      rawBody: '{"channel":"project:proto","data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}}',
    });
    expect(res.status, res.text).toBe(200);
    await c.waitFor((f) => f.push === 'pub');
    expect(c.raw.join('\n')).toContain('"data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    const top = await api('POST', '/publish', { rawBody: '{"channel":"project:proto","data":1,"__proto__":{"channel":"evil"}}' });
    expectError(top, 400, 107);
    expect(top.text).toContain('__proto__');
    c.close();
  });

  it('answers 413 in the error shape for a body over limits.httpBodyBytes', async () => {
    const res = await api('POST', '/publish', { body: { channel: 'project:1', data: 'x'.repeat(5000) } });
    expectError(res, 413, 114);
  });

  it('answers 422 for an unknown namespace (102) and an invalid channel name (110)', async () => {
    expectError(await api('POST', '/publish', { body: { channel: 'nosuch:1', data: 1 } }), 422, 102);
    expectError(await api('POST', '/publish', { body: { channel: 'project:a b', data: 1 } }), 422, 110);
    expectError(await api('POST', '/publish', { body: { channel: 'project:', data: 1 } }), 422, 110);
    expectError(await api('GET', '/channels/nosuch:1/history'), 422, 102);
  });

  it('answers 500 without the message or stack for an unexpected error in a feature route, which also needs a key', async () => {
    expectError(await api('GET', '/boom', { key: null }), 401, 101);
    const res = await api('GET', '/boom');
    expectError(res, 500, 100, true);
    expect(res.text).not.toContain('secret');
  });

  it('keeps serving after all of the above', async () => {
    const res = await fetch(`${s.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect((await api('GET', '/channels')).status).toBe(200);
  });
});

describe('POST /api/v1/publish', () => {
  it('publishes to subscribers and answers offset and epoch', async () => {
    const c = await subscriber('acme', 'alice', ['project:pub']);
    const res = await api('POST', '/publish', { body: { channel: 'project:pub', data: { text: 'hi' } } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ offset: 1, epoch: expect.any(String) });
    const got = await c.waitFor((f) => f.push === 'pub');
    expect(got).toMatchObject({ channel: 'project:pub', offset: 1, data: { text: 'hi' } });
    expect(got['info']).toBeUndefined();
    c.close();
  });

  it('may publish where the namespace disables client publish', async () => {
    const c = await subscriber('acme', 'alice', ['analytics:page'], { 'analytics:*': ['subscribe', 'publish'] });
    const refused = await c.call('publish', { channel: 'analytics:page', data: 1 });
    expect(refused.error?.code).toBe(108);
    const res = await api('POST', '/publish', { body: { channel: 'analytics:page', data: { views: 3 } } });
    expect(res.status).toBe(200);
    expect((await c.waitFor((f) => f.push === 'pub'))['data']).toEqual({ views: 3 });
    c.close();
  });

  it('publishes once for a repeated idempotency key: same offset, deduplicated, delivered once', async () => {
    const c = await subscriber('acme', 'alice', ['project:idem']);
    const body = { channel: 'project:idem', data: 'once', idempotencyKey: 'order-17' };
    const first = await api('POST', '/publish', { body });
    const second = await api('POST', '/publish', { body });
    expect(first.body).toEqual({ offset: 1, epoch: expect.any(String) });
    expect(second.body).toEqual({ offset: 1, epoch: first.body['epoch'], deduplicated: true });
    await api('POST', '/publish', { body: { channel: 'project:idem', data: 'marker' } });
    await c.waitFor((f) => f.push === 'pub' && f['data'] === 'marker');
    expect(pubs(c, 'project:idem').map((f) => f['data'])).toEqual(['once', 'marker']);
    c.close();
  });

  it('answers 413 (114) for a publication over the namespace limit', async () => {
    expectError(await api('POST', '/publish', { body: { channel: 'small:1', data: 'x'.repeat(100) } }), 413, 114);
    expect((await api('POST', '/publish', { body: { channel: 'small:1', data: 'x' } })).status).toBe(200);
  });

  it('answers 503 (116, temporary, Retry-After) when the engine is unavailable', async () => {
    const spy = vi.spyOn(s.server.node.engine.broker, 'publish').mockRejectedValueOnce(new Error('connection refused'));
    try {
      const res = await api('POST', '/publish', { body: { channel: 'project:down', data: 1 } });
      expectError(res, 503, 116, true);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.text).not.toContain('connection refused');
    } finally {
      spy.mockRestore();
    }
    expect((await api('POST', '/publish', { body: { channel: 'project:down', data: 1 } })).status).toBe(200);
  });
});

describe('POST /api/v1/broadcast', () => {
  it('publishes one payload to many channels, with a result per channel', async () => {
    const c = await subscriber('acme', 'alice', ['project:b1', 'chat:b2']);
    const res = await api('POST', '/broadcast', { body: { channels: ['project:b1', 'nosuch:x', 'chat:b2'], data: { n: 1 } } });
    expect(res.status).toBe(200);
    expect(res.body['results']).toEqual([
      { channel: 'project:b1', offset: 1, epoch: expect.any(String) },
      { channel: 'nosuch:x', error: { code: 102, message: expect.any(String), temporary: false } },
      { channel: 'chat:b2', offset: 1, epoch: expect.any(String) },
    ]);
    await c.waitFor((f) => f.push === 'pub' && f['channel'] === 'project:b1');
    await c.waitFor((f) => f.push === 'pub' && f['channel'] === 'chat:b2');
    expect(c.pushes('pub').map((f) => f['data'])).toEqual([{ n: 1 }, { n: 1 }]);
    c.close();
  });

  it('deduplicates per channel when retried with the same idempotency key', async () => {
    const body = { channels: ['project:bi1', 'project:bi2'], data: 1, idempotencyKey: 'k1' };
    await api('POST', '/broadcast', { body });
    const again = await api('POST', '/broadcast', { body });
    expect(again.body['results']).toEqual([
      { channel: 'project:bi1', offset: 1, epoch: expect.any(String), deduplicated: true },
      { channel: 'project:bi2', offset: 1, epoch: expect.any(String), deduplicated: true },
    ]);
  });

  it('refuses more channels than limits.httpBatchSize, none, or the same channel twice', async () => {
    const tooMany = await api('POST', '/broadcast', { body: { channels: ['project:1', 'project:2', 'project:3', 'project:4'], data: 1 } });
    expectError(tooMany, 400, 107);
    expect(tooMany.text).toContain('body.channels');
    expectError(await api('POST', '/broadcast', { body: { channels: [], data: 1 } }), 400, 107);
    expectError(await api('POST', '/broadcast', { body: { channels: ['project:1', 'project:1'], data: 1 } }), 400, 107);
    const history = await api('GET', '/channels/project:4/history');
    expect(history.body['offset']).toBe(0);
  });
});

describe('POST /api/v1/batch', () => {
  it('publishes in order, reporting each item, a failure in the middle not stopping the rest', async () => {
    const c = await subscriber('acme', 'alice', ['project:batch']);
    const res = await api('POST', '/batch', {
      body: {
        publications: [
          { channel: 'project:batch', data: 'a' },
          { channel: 'project:bad name', data: 'b' },
          { channel: 'project:batch', data: 'c', idempotencyKey: 'c1' },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body['results']).toEqual([
      { channel: 'project:batch', offset: 1, epoch: expect.any(String) },
      { channel: 'project:bad name', error: { code: 110, message: expect.any(String), temporary: false } },
      { channel: 'project:batch', offset: 2, epoch: expect.any(String) },
    ]);
    await c.waitFor((f) => f.push === 'pub' && f['offset'] === 2);
    expect(pubs(c, 'project:batch').map((f) => [f['offset'], f['data']])).toEqual([
      [1, 'a'],
      [2, 'c'],
    ]);
    c.close();
  });

  it('refuses more publications than limits.httpBatchSize and invalid items, publishing nothing', async () => {
    const four = Array.from({ length: 4 }, (_, i) => ({ channel: 'project:batchmax', data: i }));
    const res = await api('POST', '/batch', { body: { publications: four } });
    expectError(res, 400, 107);
    expect(res.text).toContain('body.publications');
    const invalid = await api('POST', '/batch', { body: { publications: [{ channel: 'project:batchmax', data: 1 }, { channel: 'project:batchmax' }] } });
    expectError(invalid, 400, 107);
    expect(invalid.text).toContain('body.publications.1.data');
    expect((await api('GET', '/channels/project:batchmax/history')).body['offset']).toBe(0);
  });
});

describe('GET /api/v1/channels/:channel/history', () => {
  let epoch = '';
  const offsets = (res: ApiResponse) => (res.body['publications'] as Array<{ offset: number }>).map((p) => p.offset);

  beforeAll(async () => {
    const publications = Array.from({ length: 7 }, (_, i) => ({ channel: 'project:hist', data: { i: i + 1 } }));
    for (let i = 0; i < publications.length; i += 3) await api('POST', '/batch', { body: { publications: publications.slice(i, i + 3) } });
    epoch = (await api('GET', '/channels/project:hist/history?limit=0')).body['epoch'] as string;
  });

  it('answers the oldest page, capped at limits.historyPageSize, with the stream position', async () => {
    const res = await api('GET', '/channels/project:hist/history');
    expect(res.status).toBe(200);
    expect(offsets(res)).toEqual([1, 2, 3, 4, 5]);
    expect(res.body).toMatchObject({ epoch, offset: 7 });
    expect((res.body['publications'] as unknown[])[0]).toEqual({ offset: 1, time: expect.any(Number), data: { i: 1 } });
    expect(offsets(await api('GET', '/channels/project:hist/history?limit=100'))).toEqual([1, 2, 3, 4, 5]);
    expect(offsets(await api('GET', '/channels/project:hist/history?limit=2'))).toEqual([1, 2]);
    const position = await api('GET', '/channels/project:hist/history?limit=0');
    expect(position.body).toEqual({ publications: [], epoch, offset: 7 });
  });

  it('pages forward with since_offset and since_epoch, and answers newest first with reverse', async () => {
    expect(offsets(await api('GET', `/channels/project:hist/history?since_offset=5&since_epoch=${epoch}`))).toEqual([6, 7]);
    expect(offsets(await api('GET', `/channels/project:hist/history?since_offset=7&since_epoch=${epoch}`))).toEqual([]);
    expect(offsets(await api('GET', '/channels/project:hist/history?reverse=true&limit=2'))).toEqual([7, 6]);
  });

  it('takes the channel name URL-encoded as well as raw', async () => {
    expect(offsets(await api('GET', '/channels/project%3Ahist/history?limit=1'))).toEqual([1]);
    const nested = await api('POST', '/publish', { body: { channel: 'project:a:b', data: 1 } });
    expect(nested.status).toBe(200);
    expect(offsets(await api('GET', '/channels/project%3Aa%3Ab/history'))).toEqual([1]);
  });

  it("answers 409 (112) when the epoch is not the channel's", async () => {
    expectError(await api('GET', '/channels/project:hist/history?since_offset=1&since_epoch=gone'), 409, 112);
  });

  it('answers 400 naming the query field for bad values', async () => {
    for (const q of ['limit=abc', 'limit=-1', 'limit=1e3', 'limit=99999999999999999999', 'since_offset=1', 'reverse=yes', 'limit=1&limit=2', 'lmit=1']) {
      const res = await api('GET', `/channels/project:hist/history?${q}`);
      expectError(res, 400, 107);
      expect(res.text, q).toContain('query');
    }
  });

  it('answers 422 (108) where the namespace keeps no history', async () => {
    const quiet = await startTestServer({ namespaces: { project: { historySize: 0 } } });
    try {
      const res = await fetch(`${quiet.httpUrl}/api/v1/channels/project:1/history`, { headers: { authorization: `Bearer ${quiet.tenantKeys['acme']}` } });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(108);
    } finally {
      await quiet.close();
    }
  });
});

describe('GET /api/v1/channels/:channel/presence', () => {
  it('lists members and counts after a WebSocket client enters presence, in its tenant only', async () => {
    const c = await subscriber('acme', 'alice', ['project:room']);
    const set = await c.call('presence_set', { channel: 'project:room', state: { page: 'x' } });
    expect(set.error).toBeUndefined();
    const res = await api('GET', '/channels/project:room/presence');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      members: [
        { user: 'alice', status: 'online', devices: [{ client: c.info['client'], status: 'online', state: { page: 'x' }, since: expect.any(Number) }] },
      ],
    });
    expect((await api('GET', '/channels/project%3Aroom/presence/stats')).body).toEqual({ users: 1, connections: 1 });
    expect((await api('GET', '/channels/project:room/presence', { key: s.tenantKeys['other'] })).body).toEqual({ members: [] });
    expect((await api('GET', '/channels/project:room/presence/stats', { key: s.tenantKeys['other'] })).body).toEqual({ users: 0, connections: 0 });
    c.close();
  });

  it('answers 422 (108) where the namespace has no presence, and 422 for a bad channel', async () => {
    expectError(await api('GET', '/channels/analytics:x/presence'), 422, 108);
    expectError(await api('GET', '/channels/analytics:x/presence/stats'), 422, 108);
    expectError(await api('GET', '/channels/nosuch:x/presence'), 422, 102);
  });
});

describe('GET /api/v1/channels', () => {
  it("lists the tenant's channels with their subscriber counts, filtered by prefix", async () => {
    const a = await subscriber('acme', 'alice', ['project:list1', 'chat:list2']);
    const b = await subscriber('acme', 'bob', ['project:list1']);
    const o = await subscriber('other', 'olga', ['project:list-other']);
    const all = (await api('GET', '/channels')).body['channels'] as Array<{ channel: string; subscribers: number }>;
    expect(all).toEqual(
      expect.arrayContaining([
        { channel: 'project:list1', subscribers: 2, publishRate: 0 },
        { channel: 'chat:list2', subscribers: 1, publishRate: 0 },
      ]),
    );
    expect(all.map((c) => c.channel)).not.toContain('project:list-other');
    const filtered = await api('GET', '/channels?prefix=project%3Alist');
    // The memory engine answers for its one node.
    expect(filtered.body).toEqual({ channels: [{ channel: 'project:list1', subscribers: 2, publishRate: 0 }], nodes: 1, complete: true });
    const theirs = await api('GET', '/channels?prefix=project:list', { key: s.tenantKeys['other'] });
    expect(theirs.body).toEqual({ channels: [{ channel: 'project:list-other', subscribers: 1, publishRate: 0 }], nodes: 1, complete: true });
    expectError(await api('GET', '/channels?prefix=a&prefix=b'), 400, 107);
    a.close();
    b.close();
    o.close();
  });
});

describe('POST /api/v1/users/:user/disconnect and /unsubscribe', () => {
  it('disconnects every connection of the user in the tenant with 3502, and no one else', async () => {
    const a1 = await subscriber('acme', 'dora', []);
    const a2 = await subscriber('acme', 'dora', []);
    const bob = await subscriber('acme', 'bob', []);
    const twin = await subscriber('other', 'dora', []);
    const res = await api('POST', '/users/dora/disconnect');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    expect(await a1.waitClose()).toBe(3502);
    expect(await a2.waitClose()).toBe(3502);
    expect((await bob.call('ping')).error).toBeUndefined();
    expect((await twin.call('ping')).error).toBeUndefined();
    expect(bob.closeCode).toBeNull();
    expect(twin.closeCode).toBeNull();
    bob.close();
    twin.close();
  });

  it('sends the given application close code and reason', async () => {
    const c = await subscriber('acme', 'erin', []);
    const res = await api('POST', '/users/erin/disconnect', { body: { code: 4001, reason: 'account suspended' } });
    expect(res.status).toBe(200);
    expect(await c.waitClose()).toBe(4001);
    expect(c.closeReason).toBe('account suspended');
  });

  it('refuses close codes outside the allowed ranges, long reasons and bad user ids', async () => {
    for (const body of [{ code: 1000 }, { code: 5000 }, { code: 3999 }, { code: 4001.5 }, { reason: 'é'.repeat(62) }, { code: 4001, extra: 1 }]) {
      expectError(await api('POST', '/users/erin/disconnect', { body }), 400, 107);
    }
    expectError(await api('POST', '/users/a:b/disconnect'), 400, 107);
    expectError(await api('POST', '/users/a%20b/disconnect'), 400, 107);
  });

  it("removes the user's subscription with an unsubscribe push; later publications are not delivered", async () => {
    const c = await subscriber('acme', 'fred', ['project:u1', 'project:u2']);
    const res = await api('POST', '/users/fred/unsubscribe', { body: { channel: 'project:u1' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    const push = await c.waitFor((f) => f.push === 'unsubscribe');
    expect(push).toMatchObject({ channel: 'project:u1', code: expect.any(Number) });
    await api('POST', '/publish', { body: { channel: 'project:u1', data: 'after' } });
    await api('POST', '/publish', { body: { channel: 'project:u2', data: 'marker' } });
    await c.waitFor((f) => f.push === 'pub' && f['channel'] === 'project:u2');
    expect(pubs(c, 'project:u1')).toEqual([]);
    expect(c.closeCode).toBeNull();
    c.close();
  });

  it('does not touch the same user and channel in another tenant', async () => {
    const twin = await subscriber('other', 'gail', ['project:u3']);
    await api('POST', '/users/gail/unsubscribe', { body: { channel: 'project:u3' } });
    await api('POST', '/publish', { key: s.tenantKeys['other'], body: { channel: 'project:u3', data: 'still here' } });
    await twin.waitFor((f) => f.push === 'pub');
    expect(twin.pushes('unsubscribe')).toEqual([]);
    twin.close();
  });

  it('answers 400 without a channel and 422 for a bad one', async () => {
    expectError(await api('POST', '/users/fred/unsubscribe', { body: {} }), 400, 107);
    expectError(await api('POST', '/users/fred/unsubscribe'), 400, 107);
    expectError(await api('POST', '/users/fred/unsubscribe', { body: { channel: 'nosuch:1' } }), 422, 102);
    expectError(await api('POST', '/users/fred/unsubscribe', { body: { channel: 'project:a b' } }), 422, 110);
  });
});

describe('malformed URLs', () => {
  it('answer in the API error shape without echoing the URL', async () => {
    const s = await startTestServer();
    const long = 'x'.repeat(2000);
    for (const path of ['/api/v1/channels/project%E0%A4%A/history', `/api/v1/channels/${long}/history`]) {
      const r = await fetch(`${s.httpUrl}${path}`, { headers: { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': 'demo' } });
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      const text = await r.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 107, message: 'bad request: invalid URL', temporary: false } });
      expect(text).not.toContain(long);
    }
    await s.close();
  });
});
