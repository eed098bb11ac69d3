import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The token's public `info` (name, avatar, role) appears in presence members and devices,
 * in join/leave/update pushes and in publisher info (live and in history), on the memory
 * engine and on Redis; a token whose info is over `limits.maxInfoBytes` is refused.
 */

const alice = { name: 'Alice Ødegård', avatar: 'https://cdn.example.com/a.png', role: 'editor' };

for (const engine of ['memory', 'redis'] as const) {
  describe(`token info on the ${engine} engine`, () => {
    let s: TestServer;
    beforeAll(async () => {
      const redis = engine === 'redis' ? { redis: 'redis://127.0.0.1:6379', redisPrefix: `sbinfo-${randomBytes(4).toString('hex')}` } : {};
      s = await startTestServer({ ...redis, limits: { maxInfoBytes: 256 } });
    });
    afterAll(async () => {
      await s.close();
    });

    it('shows in presence members and devices, and in join, update and leave pushes', async () => {
      const watcher = await RawClient.connect(s.url, await s.token({ sub: 'watcher' }));
      expect((await watcher.call('subscribe', { channel: 'chat:p' })).error).toBeUndefined();
      const a = await RawClient.connect(s.url, await s.token({ sub: 'alice', info: alice }));
      const plain = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
      for (const c of [a, plain]) {
        expect((await c.call('subscribe', { channel: 'chat:p' })).error).toBeUndefined();
        expect((await c.call('presence_set', { channel: 'chat:p', state: { page: 1 } })).error).toBeUndefined();
      }
      const { members } = (await watcher.call('presence', { channel: 'chat:p' })).result as { members: Array<Record<string, unknown>> };
      const byUser = new Map(members.map((m) => [m['user'], m]));
      expect(byUser.get('alice')).toMatchObject({ info: alice, devices: [{ info: alice, state: { page: 1 } }] });
      // Without info in the token there is no info field at all.
      expect(byUser.get('bob')).not.toHaveProperty('info');
      expect((byUser.get('bob')?.['devices'] as Array<Record<string, unknown>>)[0]).not.toHaveProperty('info');
      expect((await a.call('presence_set', { channel: 'chat:p', state: { page: 2 } })).error).toBeUndefined();
      expect((await a.call('presence_leave', { channel: 'chat:p' })).error).toBeUndefined();
      await vi.waitFor(() => expect(watcher.pushes('leave', 'chat:p').length).toBeGreaterThan(0));
      for (const kind of ['join', 'update', 'leave']) {
        const push = watcher.pushes(kind, 'chat:p').find((f) => f['user'] === 'alice');
        expect(push, kind).toMatchObject({ device: { info: alice } });
      }
      expect(watcher.pushes('join', 'chat:p').find((f) => f['user'] === 'bob')?.['device']).not.toHaveProperty('info');
      for (const c of [watcher, a, plain]) c.close();
    });

    it('shows in publisher info, live and in history', async () => {
      const reader = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
      expect((await reader.call('subscribe', { channel: 'chat:pub' })).error).toBeUndefined();
      const a = await RawClient.connect(s.url, await s.token({ sub: 'alice', info: alice }));
      const plain = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
      expect((await a.call('publish', { channel: 'chat:pub', data: 'from alice' })).error).toBeUndefined();
      expect((await plain.call('publish', { channel: 'chat:pub', data: 'from bob' })).error).toBeUndefined();
      await vi.waitFor(() => expect(reader.pushes('pub', 'chat:pub')).toHaveLength(2));
      const [live1, live2] = reader.pushes('pub', 'chat:pub');
      expect(live1?.['info']).toEqual({ user: 'alice', client: expect.any(String), info: alice });
      expect(live2?.['info']).toEqual({ user: 'bob', client: expect.any(String) });
      const page = (await reader.call('history', { channel: 'chat:pub' })).result as { publications: Array<Record<string, unknown>> };
      expect(page.publications.map((p) => p['info'])).toEqual([live1?.['info'], live2?.['info']]);
      for (const c of [reader, a, plain]) c.close();
    });

    it('refuses a token whose info is larger than limits.maxInfoBytes with 114: at connect (the socket closes), at refresh (the connection stays)', async () => {
      const big = { name: 'x'.repeat(300) };
      const refusedSocket = await RawClient.open(s.url);
      const refused = await refusedSocket.call('connect', { token: await s.token({ sub: 'mallory', info: big }) });
      expect(refused.error).toMatchObject({ code: 114, message: 'payload too large: token info larger than 256 bytes' });
      expect(await refusedSocket.waitClose()).toBe(3504);
      const c = await RawClient.connect(s.url, await s.token({ sub: 'mallory', info: { name: 'M' } }));
      const refresh = await c.call('refresh', { token: await s.token({ sub: 'mallory', info: big }) });
      expect(refresh.error).toMatchObject({ code: 114 });
      expect((await c.call('ping', {})).error).toBeUndefined();
      expect(c.closeCode).toBeNull();
      c.close();
    });
  });
}
