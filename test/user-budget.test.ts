import { randomBytes } from 'node:crypto';
import { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { ErrorCode } from '@switchboard/protocol';
import { type FeatureModule, ReplyError } from '@switchboard/server';
import { afterAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * One per-user budget over publishes, signals and presence updates: shared by a user's
 * connections, by every node on Redis, separate per user and per tenant, with a
 * configurable burst; a refusal is a temporary 111 that says when to retry.
 */

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(limits: Record<string, number>, extra: Record<string, unknown> = {}): Promise<TestServer> {
  const s = await startTestServer({ limits: { publishPerSecondPerConnection: 1000, signalsPerSecond: 1000, commandsPerSecond: 10_000, ...limits }, ...extra });
  servers.push(s);
  return s;
}

describe('the per-user event budget', () => {
  it("is shared by publishes, signals and presence updates over all of a user's connections, with the configured burst", async () => {
    // 60 per minute (one a second), burst 4.
    const s = await start({ eventsPerMinutePerUser: 60, eventsBurstPerUser: 4 });
    const a = await RawClient.connect(s.url, await s.token({ sub: 'alice' }));
    const b = await RawClient.connect(s.url, await s.token({ sub: 'alice' }));
    for (const c of [a, b]) expect((await c.call('subscribe', { channel: 'chat:room' })).error).toBeUndefined();
    expect((await a.call('publish', { channel: 'chat:room', data: 1 })).error).toBeUndefined();
    expect((await b.call('signal', { channel: 'chat:room', key: 'typing', data: true })).error).toBeUndefined();
    expect((await a.call('presence_set', { channel: 'chat:room', state: { page: 1 } })).error).toBeUndefined();
    expect((await b.call('publish', { channel: 'chat:room', data: 2 })).error).toBeUndefined();
    for (const [c, method, params] of [
      [a, 'publish', { channel: 'chat:room', data: 3 }],
      [b, 'signal', { channel: 'chat:room', key: 'typing', data: false }],
      [a, 'presence_set', { channel: 'chat:room', state: { page: 2 } }],
    ] as const) {
      const { error } = await c.call(method, params);
      expect(error, method).toMatchObject({ code: ErrorCode.TooManyRequests.code, temporary: true });
      expect(error?.message).toContain('events per user');
      expect(error?.['retryAfter' as never] as number).toBeGreaterThan(0);
      expect(error?.['retryAfter' as never] as number).toBeLessThanOrEqual(1000);
    }
    // Nothing refused was published, and the presence state kept its accepted value.
    expect((await a.call('history', { channel: 'chat:room' })).result).toMatchObject({ publications: [{ data: 1 }, { data: 2 }] });
    expect((await a.call('presence', { channel: 'chat:room' })).result).toMatchObject({ members: [{ user: 'alice', devices: [{ state: { page: 1 } }] }] });
    // Another user, and the same user name in another tenant, have budgets of their own.
    const bob = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
    expect((await bob.call('publish', { channel: 'chat:room', data: 'bob' })).error).toBeUndefined();
    const otherAlice = await RawClient.connect(s.url, await s.token({ sub: 'alice', tenant: 'other' }));
    expect((await otherAlice.call('publish', { channel: 'chat:room', data: 'other' })).error).toBeUndefined();
    for (const c of [a, b, bob, otherAlice]) c.close();
  });

  it('refills: a refused command succeeds once its retryAfter has passed', async () => {
    // 60,000 per minute (1,000/s), burst 2: the next event is a millisecond or so away.
    const s = await start({ eventsPerMinutePerUser: 60_000, eventsBurstPerUser: 2 });
    const c = await RawClient.connect(s.url, await s.token({ sub: 'carol' }));
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => c.call('publish', { channel: 'project:r', data: i })));
    const refused = replies.filter((r) => r.error?.code === 111);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(r.error?.['retryAfter' as never]).toBeGreaterThan(0);
    await vi.waitFor(async () => expect((await c.call('publish', { channel: 'project:r', data: 'later' })).error).toBeUndefined());
    c.close();
  });

  it('without eventsBurstPerUser the burst is a sixth of the per-minute rate', async () => {
    const s = await start({ eventsPerMinutePerUser: 30 });
    const c = await RawClient.connect(s.url, await s.token({ sub: 'dan' }));
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 6; i++) codes.push((await c.call('publish', { channel: 'project:b', data: i })).error?.code);
    expect(codes).toEqual([undefined, undefined, undefined, undefined, undefined, 111]);
    c.close();
  });

  it('holds across nodes on Redis: what a user spent on one node is spent on the other', async () => {
    const redis = { redis: 'redis://127.0.0.1:6379', redisPrefix: `sbbudget-${randomBytes(4).toString('hex')}` };
    const secret = randomBytes(32).toString('hex');
    const n1 = await start({ eventsPerMinutePerUser: 60, eventsBurstPerUser: 3 }, { ...redis, auth: { secret }, nodeId: 'n1' });
    const n2 = await start({ eventsPerMinutePerUser: 60, eventsBurstPerUser: 3 }, { ...redis, auth: { secret }, nodeId: 'n2' });
    const a = await RawClient.connect(n1.url, await n1.token({ sub: 'erin' }));
    const b = await RawClient.connect(n2.url, await n2.token({ sub: 'erin' }));
    expect((await a.call('subscribe', { channel: 'chat:x' })).error).toBeUndefined();
    expect((await b.call('subscribe', { channel: 'chat:x' })).error).toBeUndefined();
    expect((await a.call('publish', { channel: 'chat:x', data: 1 })).error).toBeUndefined();
    expect((await a.call('signal', { channel: 'chat:x', key: 'k' })).error).toBeUndefined();
    expect((await b.call('presence_set', { channel: 'chat:x', state: 1 })).error).toBeUndefined();
    expect((await b.call('publish', { channel: 'chat:x', data: 2 })).error).toMatchObject({ code: 111, temporary: true });
    expect((await b.call('signal', { channel: 'chat:x', key: 'k' })).error).toMatchObject({ code: 111 });
    a.close();
    b.close();
  });

  it('reaches the SDK as SwitchboardError.retryAfter', async () => {
    const s = await start({ eventsPerMinutePerUser: 60, eventsBurstPerUser: 1 });
    const client = new SwitchboardClient(s.url, { getToken: () => s.token({ sub: 'fay' }), WebSocket });
    client.connect();
    const sub = client.subscribe('project:sdk');
    await sub.publish('first');
    const err = await sub.publish('second').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect(err).toMatchObject({ code: 111, temporary: true });
    expect((err as SwitchboardError).retryAfter).toBeGreaterThan(0);
    client.disconnect();
  });
});

describe('Retry-After on the HTTP API', () => {
  it('is the retryAfter of a 111, in whole seconds rounded up', async () => {
    const limiter: FeatureModule = {
      name: 'limiter',
      hooks: {
        beforePublish: ({ channel }) => {
          if (channel.name === 'limited') throw new ReplyError(ErrorCode.TooManyRequests, 'quota', 2500);
        },
      },
    };
    const s = await startTestServer({ features: [limiter] });
    servers.push(s);
    const res = await fetch(`${s.httpUrl}/api/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'project:limited', data: 1 }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toEqual({ error: { code: 111, message: 'too many requests: quota', temporary: true, retryAfter: 2500 } });
  });
});
