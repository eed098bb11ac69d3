import { ErrorCode } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { CANARY, hostileServer, TENANT_A, TENANT_B } from './harness.js';

/**
 * Scheduled publications under hostile input: bad times, both kinds of time, the per-tenant
 * cap, forged cursors, and another tenant's ids. Each gets its typed error and schedules
 * nothing; tenant B's scheduled canaries never show in anything tenant A reads.
 */

const E = ErrorCode;
const CAP = 3;

describe('hostile scheduled publications', () => {
  const ctx = hostileServer({ limits: { maxScheduledPerTenant: CAP, maxScheduleAhead: '1d' } });

  const call = async (tenant: string, method: string, path: string, body?: unknown) => {
    const { s } = ctx();
    const res = await fetch(`${s.httpUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${s.tenantKeys[tenant]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };
  const schedule = (tenant: string, extra: Record<string, unknown>) => call(tenant, 'POST', '/publish', { channel: 'project:sched', data: 'x', ...extra });
  const pending = async (tenant: string) => ((await call(tenant, 'GET', '/scheduled?status=pending')).body['scheduled'] as unknown[]).length;
  const expectError = (res: { status: number; text: string; body: Record<string, unknown> }, status: number, code: number) => {
    expect(res.status, res.text).toBe(status);
    expect((res.body['error'] as { code: number }).code).toBe(code);
  };

  it('times in the past, beyond the maximum, or not times at all are refused and schedule nothing', async () => {
    const now = Date.now();
    expectError(await schedule(TENANT_A, { publishAt: now - 60_000 }), 422, E.InvalidSchedule.code);
    expectError(await schedule(TENANT_A, { publishAt: new Date(now - 60_000).toISOString() }), 422, E.InvalidSchedule.code);
    expectError(await schedule(TENANT_A, { publishAt: now + 2 * 86_400_000 }), 422, E.InvalidSchedule.code);
    expectError(await schedule(TENANT_A, { delaySeconds: 2 * 86_400 }), 422, E.InvalidSchedule.code);
    for (const publishAt of ['tomorrow', '2031-01-05', '2031-01-05T08:55:00', '2031-02-30T08:55:00Z', '', true, -5, 1e20, 1.5, { at: 1 }, [now]])
      expectError(await schedule(TENANT_A, { publishAt }), 400, E.BadRequest.code);
    for (const delaySeconds of [-1, '10', null, Number.MAX_VALUE]) expectError(await schedule(TENANT_A, { delaySeconds }), 400, E.BadRequest.code);
    expectError(await schedule(TENANT_A, { publishAt: now + 60_000, delaySeconds: 60 }), 400, E.BadRequest.code);
    expectError(await call(TENANT_A, 'POST', '/publish', { channel: 'nosuch:x', data: 1, delaySeconds: 60 }), 422, E.UnknownChannel.code);
    expectError(await call(TENANT_A, 'POST', '/publish', { channel: 'project:a|b', data: 1, delaySeconds: 60 }), 422, E.InvalidChannel.code);
    expect(await pending(TENANT_A)).toBe(0);
  });

  it('a tenant at its cap gets 106 and another tenant can still schedule; cancelling frees a place', async () => {
    const ids: string[] = [];
    for (let i = 0; i < CAP; i++) {
      const res = await schedule(TENANT_A, { delaySeconds: 3600 });
      expect(res.status, res.text).toBe(202);
      ids.push(res.body['id'] as string);
    }
    expectError(await schedule(TENANT_A, { delaySeconds: 3600 }), 422, E.LimitExceeded.code);
    const b = await schedule(TENANT_B, { data: CANARY, delaySeconds: 3600 });
    expect(b.status, b.text).toBe(202);
    expect((await call(TENANT_A, 'DELETE', `/scheduled/${ids[0]}`)).status).toBe(200);
    expect((await schedule(TENANT_A, { delaySeconds: 3600 })).status).toBe(202);
    expect(await pending(TENANT_A)).toBe(CAP);
  });

  it("another tenant's scheduled ids are 404, its publications never listed, its canaries never read", async () => {
    const b = await schedule(TENANT_B, { data: { secret: CANARY }, delaySeconds: 3600 });
    const id = b.body['id'] as string;
    expectError(await call(TENANT_A, 'GET', `/scheduled/${id}`), 404, E.NotFound.code);
    expectError(await call(TENANT_A, 'DELETE', `/scheduled/${id}`), 404, E.NotFound.code);
    expect((await call(TENANT_B, 'GET', `/scheduled/${id}`)).body['status']).toBe('pending');
    for (const status of ['', '?status=pending', '?status=cancelled', '?limit=100']) {
      const list = await call(TENANT_A, 'GET', `/scheduled${status}`);
      expect(list.status).toBe(200);
      expect(list.text).not.toContain(CANARY);
      expect(list.text).not.toContain(id);
    }
    for (const bad of ['%00', `${id}%00`, 'x'.repeat(129), '..%2F..%2Fetc'])
      expect((await call(TENANT_A, 'GET', `/scheduled/${bad}`)).status).toBeGreaterThanOrEqual(400);
  });

  it('forged cursors and bad list parameters are 400', async () => {
    for (const q of [
      'cursor=not-a-cursor',
      `cursor=${Buffer.from('[1,"A;drop"]').toString('base64url')}`,
      'limit=0',
      'limit=101',
      'limit=-1',
      'status=done',
      'extra=1',
    ])
      expectError(await call(TENANT_A, 'GET', `/scheduled?${q}`), 400, E.BadRequest.code);
  });
});
