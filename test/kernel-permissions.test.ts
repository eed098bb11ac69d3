import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('tenancy and permissions', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('keeps tenants apart on the same channel name: publications, presence and history', async () => {
    const a = await RawClient.connect(s.url, await s.token({ sub: 'ann', tenant: 'acme' }));
    const b = await RawClient.connect(s.url, await s.token({ sub: 'ann', tenant: 'other' }));
    await a.call('subscribe', { channel: 'project:1' });
    await b.call('subscribe', { channel: 'project:1' });
    await b.call('presence_set', { channel: 'project:1', state: { secret: 'CANARY-B' } });
    await b.call('publish', { channel: 'project:1', data: 'CANARY-B' });
    const mine = await a.call('publish', { channel: 'project:1', data: 'mine' });
    await a.waitFor((f) => f.push === 'pub' && f['data'] === 'mine');
    expect(mine.result?.['offset']).toBe(1); // tenant B's publication did not advance A's stream
    const presence = await a.call('presence', { channel: 'project:1' });
    expect(presence.result?.['members']).toEqual([]);
    const history = await a.call('history', { channel: 'project:1' });
    expect((history.result?.['publications'] as unknown[]).length).toBe(1);
    expect(a.raw.join('\n')).not.toContain('CANARY-B');
    a.close();
    b.close();
  });

  it('refuses hostile channel names with a typed error and leaves the connection working', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'h', caps: { '*': ['subscribe', 'publish'] } }));
    const hostile = [
      'other|project:1',
      'project|x',
      'acme|project:1',
      'prοject:1',
      'project::1',
      'project:',
      ':1',
      '',
      'project:1\u0000',
      'project:a b',
      `project:${'x'.repeat(300)}`,
      'PROJECT:1',
      'project:\u200b1',
      '__proto__',
      'constructor:1',
      'project:1/../2',
    ];
    for (const channel of hostile) {
      const r = await c.call('subscribe', { channel });
      expect(r.error, channel).toBeDefined();
      expect([110, 102], channel).toContain(r.error?.code);
    }
    const ok = await c.call('subscribe', { channel: 'project:ok' });
    expect(ok.error).toBeUndefined();
    c.close();
  });

  it('gives typed errors for unknown namespaces and forbidden channels', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'p', caps: { 'project:1': ['subscribe'] } }));
    expect((await c.call('subscribe', { channel: 'nope:1' })).error?.code).toBe(102);
    expect((await c.call('subscribe', { channel: 'project:2' })).error?.code).toBe(103);
    expect((await c.call('subscribe', { channel: 'project:1' })).error).toBeUndefined();
    expect((await c.call('subscribe', { channel: 'project:1' })).error?.code).toBe(105);
    expect((await c.call('publish', { channel: 'project:1', data: 1 })).error?.code).toBe(103);
    expect((await c.call('publish', { channel: 'system', data: 1 })).error?.code).toBe(108);
    c.close();
  });

  it('lets only its owner subscribe to user:{sub}', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'u17', caps: { 'user:*': ['subscribe'] } }));
    expect((await c.call('subscribe', { channel: 'user:u17' })).error).toBeUndefined();
    expect((await c.call('subscribe', { channel: 'user:u18' })).error?.code).toBe(103);
    c.close();
  });

  it('lets any user of the tenant subscribe to system but not publish there; the API publishes', async () => {
    const c = await RawClient.connect(s.url, await s.token({ sub: 'sys', caps: {} }));
    expect((await c.call('subscribe', { channel: 'system' })).error).toBeUndefined();
    expect((await c.call('publish', { channel: 'system', data: 1 })).error?.code).toBe(108);
    c.close();
  });

  it('answers commands before connect with 101 and refuses a second connect', async () => {
    const c = await RawClient.open(s.url);
    expect((await c.call('subscribe', { channel: 'project:1' })).error?.code).toBe(101);
    expect((await c.call('connect', { token: await s.token({ sub: 'x' }) })).error).toBeUndefined();
    expect((await c.call('connect', { token: await s.token({ sub: 'x' }) })).error?.code).toBe(118);
    c.close();
  });

  it('closes with 3500 on an invalid token and 3003 on an expired one', async () => {
    const bad = await RawClient.open(s.url);
    expect((await bad.call('connect', { token: 'a.b.c' })).error?.code).toBe(101);
    expect(await bad.waitClose()).toBe(3500);
    const { mintToken } = await import('@switchboard/server');
    const expired = await mintToken(s.server.secret as string, { sub: 'x', tenant: 'acme', ttlSeconds: -120 });
    const c = await RawClient.open(s.url);
    expect((await c.call('connect', { token: expired })).error?.code).toBe(109);
    expect(await c.waitClose()).toBe(3003);
  });

  it('re-checks permissions on resubscribe: a removed capability does not get the channel back', async () => {
    const c1 = await RawClient.connect(s.url, await s.token({ sub: 'rv', caps: { 'project:*': ['subscribe'] } }));
    const first = await c1.call('subscribe', { channel: 'project:rv' });
    c1.terminate();
    const c2 = await RawClient.connect(s.url, await s.token({ sub: 'rv', caps: { 'project:other': ['subscribe'] } }));
    const again = await c2.call('subscribe', { channel: 'project:rv', recover: { offset: 0, epoch: first.result?.['epoch'] } });
    expect(again.error?.code).toBe(103);
    c2.close();
  });
});
