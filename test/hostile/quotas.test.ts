import { DisconnectCode, ErrorCode } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../helpers/server.js';
import { expectClosed, hostileServer, replyError, TENANT_A, TENANT_B } from './harness.js';

/**
 * Per-tenant quotas under attack: values that are not quotas (negative, huge, fractional,
 * strings, unknown keys, bodies that are not objects) get 400 naming the key and store
 * nothing; a tenant key cannot read, raise or remove quotas, its own or another's; a tenant
 * hammering its quotas gets the typed errors while tenant B's bystander is served as before
 * (checked after every test by the harness); a config file with a bad quota refuses the
 * start with SB_ERR_CONFIG_INVALID naming the key.
 */

const E = ErrorCode;

describe('tenant quotas, hostile', () => {
  const ctx = hostileServer({ tenants: { [TENANT_A]: { quotas: { connections: 2, publishesPerMinute: 2 } } } });

  const quotas = (method: string, tenant: string, opts: { key?: string; body?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${ctx().s.httpUrl}/api/v1/tenants/${tenant}/quotas`, {
      method,
      headers: {
        authorization: `Bearer ${opts.key ?? ctx().s.apiKey}`,
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      signal: AbortSignal.timeout(5000),
    });
  const stored = async (tenant: string) => ((await (await quotas('GET', tenant)).json()) as { stored: unknown }).stored;

  const badBodies: Array<[string, string, string]> = [
    ['a negative count', '{"connections":-1}', 'body.connections'],
    ['a huge count', '{"connections":1e12}', 'body.connections'],
    ['a count past 2^53', '{"notifications":1e300}', 'body.notifications'],
    ['a fraction', '{"presenceMembers":1.5}', 'body.presenceMembers'],
    ['a number as text', '{"publishesPerMinute":"60"}', 'body.publishesPerMinute'],
    ['zero publishes per minute (use a rate, not an off switch)', '{"publishesPerMinute":0}', 'body.publishesPerMinute'],
    ['null', '{"activity":null}', 'body.activity'],
    ['a boolean', '{"connections":true}', 'body.connections'],
    ['an unknown quota', '{"connections":5,"bandwidth":10}', 'bandwidth'],
    ['a prototype key', '{"__proto__":{"connections":1}}', 'body'],
    ['an array', '[{"connections":1}]', 'body'],
    ['a bare number', '5', 'body'],
  ];
  for (const [what, body, names] of badBodies) {
    it(`refuses ${what} with 400 naming it, and stores nothing`, async () => {
      const res = await quotas('PUT', TENANT_A, { body });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: number; message: string } };
      expect(error.code).toBe(E.BadRequest.code);
      expect(error.message).toContain(names);
      expect(await stored(TENANT_A)).toEqual({});
    });
  }

  it('refuses tenant ids in the path that are not tenant ids', async () => {
    for (const tenant of ['a%7Cb', 'x'.repeat(65), '%00', 'a%20b', '..%2Facme']) {
      const res = await quotas('GET', tenant);
      expect([400, 404], tenant).toContain(res.status);
    }
  });

  it('a tenant key cannot read, raise or remove any quotas, even naming its tenant in the header', async () => {
    expect((await quotas('PUT', TENANT_A, { body: '{"connections":2}' })).status).toBe(200);
    const own = ctx().s.tenantKeys[TENANT_A] as string;
    const other = ctx().s.tenantKeys[TENANT_B] as string;
    const attempts: Array<[string, string, string, string | undefined]> = [
      ['GET', TENANT_A, own, undefined],
      ['PUT', TENANT_A, own, '{"connections":1000000}'],
      ['DELETE', TENANT_A, own, undefined],
      ['PUT', TENANT_B, own, '{"connections":1}'],
      ['PUT', TENANT_A, other, '{"connections":1000000}'],
    ];
    for (const [method, tenant, key, body] of attempts) {
      const res = await quotas(method, tenant, { key, headers: { 'x-switchboard-tenant': tenant }, ...(body ? { body } : {}) });
      expect(res.status, `${method} ${tenant}`).toBe(403);
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(E.PermissionDenied.code);
    }
    expect((await quotas('PUT', TENANT_A, { key: 'sb_nope_nope', body: '{"connections":9}' })).status).toBe(401);
    expect(await stored(TENANT_A)).toEqual({ connections: 2 });
    expect(await stored(TENANT_B)).toEqual({});
  });

  it('a tenant hammering its connection and publish quotas gets the typed errors; the other tenant is served as before', async () => {
    const { connect, open, token } = ctx();
    const a = await connect('ann');
    await connect('amy');
    for (let i = 0; i < 20; i++) {
      const c = await open({ label: TENANT_A });
      const reply = await c.call('connect', { token: await token(`extra${i}`) });
      expect(replyError(reply)).toMatchObject({ code: E.LimitExceeded.code });
      await expectClosed(c, DisconnectCode.ConnectionLimit.code);
    }
    let refused = 0;
    for (let i = 0; i < 50; i++) {
      const reply = await a.call('publish', { channel: 'project:flood', data: i });
      if (reply['error']) {
        expect(replyError(reply)).toMatchObject({ code: E.TooManyRequests.code, temporary: true });
        refused++;
      }
    }
    expect(refused).toBeGreaterThanOrEqual(48);
  });
});

describe('tenant quotas in the config file', () => {
  const refused: Array<[string, unknown, string]> = [
    ['a negative count', { acme: { quotas: { connections: -5 } } }, 'tenants.acme.quotas.connections'],
    ['a fraction', { acme: { quotas: { presenceMembers: 0.5 } } }, 'tenants.acme.quotas.presenceMembers'],
    ['a count as text', { acme: { quotas: { activity: '10' } } }, 'tenants.acme.quotas.activity'],
    ['a huge count', { acme: { quotas: { connections: 1e15 } } }, 'tenants.acme.quotas.connections'],
    ['an unknown quota', { acme: { quotas: { bandwidth: 1 } } }, 'tenants.acme.quotas.bandwidth'],
    ['an unknown tenant option', { acme: { limits: {} } }, 'tenants.acme.limits'],
    ['a tenant id with a separator', { 'a|b': { quotas: {} } }, 'tenants'],
  ];
  for (const [what, tenants, key] of refused) {
    it(`refuses the start with SB_ERR_CONFIG_INVALID naming the key: ${what}`, async () => {
      await expect(startTestServer({ tenants: tenants as never })).rejects.toMatchObject({
        code: 'SB_ERR_CONFIG_INVALID',
        message: expect.stringContaining(key),
      });
    });
  }
});
