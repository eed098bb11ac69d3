import { ErrorCode } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { CANARY, hostileServer, replyError, TENANT_A, TENANT_B } from './harness.js';

/**
 * The audit log across tenants: tenant B's users, channel names and refused tokens carry the
 * canary; tenant A reads its audit entries with every filter, asks for B's with its own key,
 * and listens for audit.* webhook events: the canary never appears in anything A receives,
 * and B's entries are there (so the scan is not of an empty log).
 */

const E = ErrorCode;

describe('hostile audit log', () => {
  const ctx = hostileServer({ webhooks: { allowNetworks: ['127.0.0.1/32'] } });

  const get = async (tenant: string, path: string, headers: Record<string, string> = {}) => {
    const { s } = ctx();
    const res = await fetch(`${s.httpUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${s.tenantKeys[tenant]}`, ...headers } });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };

  it("tenant B's canaries never reach tenant A's audit answers or audit.* webhooks", async () => {
    const { s } = ctx();
    const receiver = await WebhookReceiver.start();
    const created = await fetch(`${s.httpUrl}/api/v1/webhooks/endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys[TENANT_A]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, events: ['audit.*'] }),
    });
    expect(created.status).toBe(201);
    receiver.secret = ((await created.json()) as { secret: string }).secret;

    const b = await ctx().connect(CANARY, { tenant: TENANT_B, caps: { 'chat:*': ['subscribe'] } });
    for (const channel of [`project:${CANARY}`, `${TENANT_A}|project:${CANARY}`, `chat:${CANARY}|x`]) {
      const reply = await b.call('subscribe', { channel });
      expect(replyError(reply).code).toBeOneOf([E.PermissionDenied.code, E.InvalidChannel.code]);
    }
    // A's own refusal, so A has entries of the same types to read.
    const a = await ctx().connect('alice', { tenant: TENANT_A, caps: { 'chat:*': ['subscribe'] } });
    expect(replyError(await a.call('subscribe', { channel: 'project:mine' })).code).toBe(E.PermissionDenied.code);
    await s.server.feature<{ flush(): Promise<number> }>('audit').flush();

    const mine = await get(TENANT_B, '/audit?type=channel.forbidden');
    expect(mine.text, "B's own entries carry the canary").toContain(CANARY);
    for (const path of ['/audit', '/audit?type=channel.forbidden', `/audit?user=${CANARY}`, '/audit?ip=127.0.0.1', '/audit?type=channel.*&limit=100']) {
      const res = await get(TENANT_A, path);
      expect(res.status, res.text).toBe(200);
      expect(res.text, path).not.toContain(CANARY);
    }
    expect((await get(TENANT_A, '/audit?type=channel.forbidden')).text).toContain('project:mine');
    for (const [path, headers] of [
      ['/audit', { 'x-switchboard-tenant': TENANT_B }],
      [`/audit?user=${CANARY}`, { 'x-switchboard-tenant': TENANT_B }],
      ['/audit/system', {}],
    ] as const) {
      const res = await get(TENANT_A, path, headers);
      expect(res.status, res.text).toBe(403);
      expect(res.text).not.toContain(CANARY);
    }
    await eventually(
      async () => {
        await s.server.jobs.poll();
        return receiver.events().some((e) => JSON.stringify(e.verified?.data).includes('project:mine'));
      },
      5000,
      "A's own audit event delivered",
    );
    expect(receiver.received.map((r) => r.body).join('\n')).not.toContain(CANARY);
    await receiver.close();
  });
});
