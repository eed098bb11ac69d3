import { type SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { type LockUpdate, locks } from '@switchboard/client/locks';
import { ErrorCode, type LockInfo } from '@switchboard/protocol';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../../../packages/client/test/wait-for.js';
import { type DurableServer, reply, STORES, startDurableServer, waitPush } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { RawClient } from '../../helpers/raw-client.js';

/**
 * The lock service over real sockets, the real SDK and a real store: one holder per key,
 * fencing tokens that only grow, release on close (at once), on a drop (after the grace,
 * unless the session comes back), and lock state pushed to the channel's subscribers.
 */

const CAPS = { 'project:*': ['subscribe', 'publish', 'presence', 'lock'] };
const ADMIN_CAPS = { 'project:*': ['subscribe', 'lock', 'unlock'] };
const WAIT = 10_000;

/** The lock index table, as the tests read and write it (features/locks/tables.ts). */
interface LockTables {
  sb_locks: {
    tenant: string;
    channel: string;
    lock_key: string;
    token: number;
    user_id: string;
    client_id: string | null;
    session: string | null;
    node: string | null;
    attributes: string | null;
    acquired_at: number;
    expires_at: number | null;
  };
}

describe.each(STORES)('locks on %s', (store) => {
  let s: DurableServer;
  const clients: SwitchboardClient[] = [];
  const raws: RawClient[] = [];

  beforeAll(async () => {
    s = await startDurableServer(store, { locks: { grace: '60s', perConnection: 3, perUser: 5 } });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const r of raws) r.close();
    await s?.stop();
  });

  async function sdk(sub: string, caps: Record<string, string[]> = CAPS, tenant = 'acme'): Promise<SwitchboardClient> {
    const { SwitchboardClient } = await import('@switchboard/client');
    const c = new SwitchboardClient(s.url, { getToken: () => s.token({ sub, caps, tenant }), WebSocket });
    clients.push(c);
    const ready = waitFor(c, 'connected');
    c.connect();
    await ready;
    return c;
  }

  async function raw(sub: string, caps: Record<string, string[]> = CAPS, tenant = 'acme'): Promise<RawClient> {
    const r = await RawClient.connect(s.url, await s.token({ sub, caps, tenant }));
    raws.push(r);
    return r;
  }

  it('grants a key to one holder; a contender gets 130 naming the holder, and every watcher sees who holds it', async () => {
    const ada = locks(await sdk('ada'), 'project:form-1');
    const bob = locks(await sdk('bob'), 'project:form-1');
    const watcher = locks(await sdk('carol'), 'project:form-1');
    const seen = new Promise<LockUpdate>((resolve) => watcher.on('update', (u) => u.lock && resolve(u)));
    await watcher.refresh();

    const lock = await ada.acquire('field:email', { attributes: { name: 'Ada' } });
    expect(lock).toMatchObject({ key: 'field:email', holder: { user: 'ada', attributes: { name: 'Ada' } }, expiresAt: null });
    expect(lock.fencingToken).toBeGreaterThan(0);

    const refused = await bob.acquire('field:email').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SwitchboardError);
    expect((refused as SwitchboardError).code).toBe(ErrorCode.Locked.code);
    expect((refused as SwitchboardError).data).toMatchObject({ holder: { user: 'ada', attributes: { name: 'Ada' } } });

    expect((await seen).lock).toMatchObject({ key: 'field:email', fencingToken: lock.fencingToken, holder: { user: 'ada' } });
    expect(watcher.get('field:email')?.fencingToken).toBe(lock.fencingToken);
    const listed = await s.api('GET', `/channels/${encodeURIComponent('project:form-1')}/locks`);
    expect(listed.body).toEqual({ locks: [expect.objectContaining({ key: 'field:email', fencingToken: lock.fencingToken })] });
  });

  it('hands a key to a waiting contender when the holder releases, with a larger fencing token', async () => {
    const ada = locks(await sdk('ada'), 'project:form-2');
    const bob = locks(await sdk('bob'), 'project:form-2');
    const first = await ada.acquire('node:7');
    const waiting = bob.acquire('node:7', { waitMs: 20_000 });
    const released = new Promise<LockUpdate>((resolve) => bob.on('update', (u) => u.lock === null && resolve(u)));
    await ada.release('node:7');
    const second = await waiting;
    expect(second.holder.user).toBe('bob');
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    expect(await released).toMatchObject({ key: 'node:7', reason: 'released' });
  });

  it('releases at once when the holder closes cleanly, announcing reason disconnect', async () => {
    const watcher = await raw('carol');
    await watcher.call('subscribe', { channel: 'project:form-3' });
    const holder = await raw('ada');
    const granted = (await holder.call('locks.acquire', { channel: 'project:form-3', key: 'k' })).result as LockInfo;
    const pushed = waitPush(watcher, 'project:form-3', (d) => d['event'] === 'released');
    holder.close();
    const push = await pushed;
    expect(push['data']).toMatchObject({ kind: 'lock', event: 'released', reason: 'disconnect', lock: { key: 'k', fencingToken: granted.fencingToken } });
    expect((await s.api('GET', `/channels/${encodeURIComponent('project:form-3')}/locks/k`)).status).toBe(404);
  });

  it('keeps the grant of a dropped connection for its session: the same session re-acquires the same token', async () => {
    const first = await raw('ada');
    const granted = (await first.call('locks.acquire', { channel: 'project:form-4', key: 'k', session: 'tab-1' })).result as LockInfo;
    first.ws.terminate();
    const other = await raw('bob');
    const refused = await other.call('locks.acquire', { channel: 'project:form-4', key: 'k' });
    expect(refused.error).toMatchObject({ code: ErrorCode.Locked.code, data: { holder: { user: 'ada' } } });
    const back = await raw('ada');
    const again = (await back.call('locks.acquire', { channel: 'project:form-4', key: 'k', session: 'tab-1' })).result as LockInfo;
    expect(again.fencingToken).toBe(granted.fencingToken);
    // A session of another user is not the holder's, whatever it is called.
    const thief = await raw('mallory');
    expect((await thief.call('locks.acquire', { channel: 'project:form-4', key: 'k', session: 'tab-1' })).error?.code).toBe(ErrorCode.Locked.code);
  });

  it('takes a lock back by force only with the unlock capability; its holder is told it lost it', async () => {
    const ada = locks(await sdk('ada'), 'project:form-5');
    const lost = new Promise((resolve) => ada.on('lost', resolve));
    await ada.acquire('field:title');
    const bob = locks(await sdk('bob'), 'project:form-5');
    const denied = await bob.forceRelease('field:title').catch((e: SwitchboardError) => e.code);
    expect(denied).toBe(ErrorCode.PermissionDenied.code);
    const admin = locks(await sdk('admin', ADMIN_CAPS), 'project:form-5');
    await admin.forceRelease('field:title');
    expect(await lost).toMatchObject({ key: 'field:title', reason: 'forced' });
    expect(ada.holds('field:title')).toBe(false);
    const stolen = await admin.acquire('field:title', { steal: false });
    expect(stolen.holder.user).toBe('admin');
  });

  it('backend leases: acquire, 409 with the holder, renew with the token, 131 for a stale one, release', async () => {
    const path = `/channels/${encodeURIComponent('project:form-6')}/locks/${encodeURIComponent('field:a/b')}`;
    const got = await s.api('PUT', path, { body: { userId: 'svc', ttlMs: 60_000, attributes: { job: 7 } } });
    expect(got.status, got.text).toBe(200);
    const lease = got.body as unknown as LockInfo;
    expect(lease).toMatchObject({ key: 'field:a/b', holder: { user: 'svc', attributes: { job: 7 } } });
    expect(lease.expiresAt).toBeGreaterThan(Date.now());

    const busy = await s.api('PUT', path, { body: { userId: 'other', ttlMs: 60_000 } });
    expect(busy.status).toBe(409);
    expect(busy.body['error']).toMatchObject({ code: ErrorCode.Locked.code, data: { holder: { user: 'svc' } } });

    const renewed = await s.api('PUT', path, { body: { userId: 'svc', ttlMs: 120_000, fencingToken: lease.fencingToken } });
    expect(renewed.body).toMatchObject({ fencingToken: lease.fencingToken });
    const stale = await s.api('PUT', path, { body: { userId: 'svc', ttlMs: 60_000, fencingToken: lease.fencingToken - 1 } });
    expect(stale.body['error']).toMatchObject({ code: ErrorCode.StaleFencingToken.code });
    expect((await s.api('DELETE', `${path}?fencingToken=${lease.fencingToken - 1}`)).status).toBe(409);
    expect((await s.api('DELETE', path)).status).toBe(400);

    const released = await s.api('DELETE', `${path}?fencingToken=${lease.fencingToken}`);
    expect(released.status, released.text).toBe(200);
    expect((await s.api('GET', path)).status).toBe(404);
    const next = await s.api('PUT', path, { body: { userId: 'other', ttlMs: 1000 } });
    expect((next.body as unknown as LockInfo).fencingToken).toBeGreaterThan(lease.fencingToken);
    expect((await s.api('DELETE', `${path}?force=true`)).status).toBe(200);
  });

  it('refuses bad lock input with typed errors and stores nothing', async () => {
    const c = await raw('ada');
    const call = async (params: Record<string, unknown>) => (await c.call('locks.acquire', { channel: 'project:form-7', ...params })).error?.code;
    expect(await call({ key: 'k'.repeat(129) })).toBe(ErrorCode.PayloadTooLarge.code);
    expect(await call({ key: 'k'.repeat(5000) })).toBe(ErrorCode.BadRequest.code);
    expect(await call({ key: 'k', attributes: { big: 'x'.repeat(2000) } })).toBe(ErrorCode.PayloadTooLarge.code);
    let deep: unknown = 1;
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(await call({ key: 'k', attributes: deep })).toBe(ErrorCode.BadRequest.code);
    expect(await call({ key: 'k', waitMs: 31_000 })).toBe(ErrorCode.BadRequest.code);
    expect(await call({ key: '' })).toBe(ErrorCode.BadRequest.code);
    expect((await c.call('locks.acquire', { channel: 'chat:x', key: 'k' })).error?.code).toBe(ErrorCode.NotAvailable.code);
    expect((await c.call('locks.acquire', { channel: 'nope:x', key: 'k' })).error?.code).toBe(ErrorCode.UnknownChannel.code);
    const reader = await raw('rita', { 'project:*': ['subscribe'] });
    expect((await reader.call('locks.acquire', { channel: 'project:form-7', key: 'k' })).error?.code).toBe(ErrorCode.PermissionDenied.code);
    expect((await c.call('locks.release', { channel: 'project:form-7', key: 'never' })).error?.code).toBe(ErrorCode.NotFound.code);
    const path = `/channels/${encodeURIComponent('project:form-7')}/locks/k`;
    for (const ttlMs of [0, -5, 999, 3_600_001]) expect((await s.api('PUT', path, { body: { userId: 'svc', ttlMs } })).status, String(ttlMs)).toBe(400);
    expect((await s.api('GET', `/channels/${encodeURIComponent('project:form-7')}/locks`)).body).toEqual({ locks: [] });
  });

  it('caps the locks of one connection and of one user across connections (a lock flood)', async () => {
    const a = await raw('flood');
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) codes.push((await a.call('locks.acquire', { channel: 'project:flood', key: `k${i}` })).error?.code);
    expect(codes).toEqual([undefined, undefined, undefined, ErrorCode.LimitExceeded.code, ErrorCode.LimitExceeded.code]);
    const b = await raw('flood');
    const more: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) more.push((await b.call('locks.acquire', { channel: 'project:flood', key: `m${i}` })).error?.code);
    expect(more).toEqual([undefined, undefined, ErrorCode.LimitExceeded.code, ErrorCode.LimitExceeded.code]);
    const listed = await s.api('GET', `/channels/${encodeURIComponent('project:flood')}/locks`);
    expect((listed.body['locks'] as unknown[]).length).toBe(5);
  });

  it("never shows tenant B's locks to tenant A: its holders and attribute canaries appear in no frame or answer", async () => {
    const secret = 'CANARY-b7f3-attr';
    const b = await raw('beth-b', CAPS, 'demo');
    expect((await b.call('locks.acquire', { channel: 'project:shared', key: 'field:email', attributes: { note: secret } })).error).toBeUndefined();
    const lease = await s.api('PUT', `/channels/${encodeURIComponent('project:shared')}/locks/doc`, {
      key: s.tenantKeys['demo'] as string,
      body: { userId: 'svc-b', ttlMs: 60_000, attributes: { note: secret } },
    });
    expect(lease.status).toBe(200);

    const a = await raw('ann');
    await a.call('subscribe', { channel: 'project:shared' });
    const seen: string[] = [];
    const listed = (await a.call('locks.list', { channel: 'project:shared' })).result;
    expect(listed).toEqual({ locks: [] });
    // The same key in tenant A is free: another tenant's lock is not in the way.
    expect((await a.call('locks.acquire', { channel: 'project:shared', key: 'field:email' })).result).toMatchObject({ holder: { user: 'ann' } });
    seen.push(JSON.stringify((await a.call('locks.release', { channel: 'project:shared', key: 'doc', force: true })).error));
    for (const path of ['/locks', '/locks/doc', '/locks/field%3Aemail'])
      seen.push((await s.api('GET', `/channels/${encodeURIComponent('project:shared')}${path}`)).text);
    const forced = await s.api('DELETE', `/channels/${encodeURIComponent('project:shared')}/locks/doc?force=true`);
    expect(forced.status).toBe(404);
    seen.push(forced.text, ...a.raw);
    for (const text of seen) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('beth-b');
      expect(text).not.toContain('svc-b');
    }
    // Tenant B's locks are untouched by all of it.
    const still = await s.api('GET', `/channels/${encodeURIComponent('project:shared')}/locks`, { key: s.tenantKeys['demo'] as string });
    expect((still.body['locks'] as LockInfo[]).map((l) => [l.key, l.holder.user])).toEqual([
      ['doc', 'svc-b'],
      ['field:email', 'beth-b'],
    ]);
  });

  it('releases a dropped connection after the grace with reason connection-lost', async () => {
    const short = await startDurableServer('sqlite', { locks: { grace: '50ms' } });
    try {
      const watcher = await RawClient.connect(short.url, await short.token({ sub: 'w', caps: CAPS }));
      await watcher.call('subscribe', { channel: 'project:grace' });
      const holder = await RawClient.connect(short.url, await short.token({ sub: 'h', caps: CAPS }));
      expect((await holder.call('locks.acquire', { channel: 'project:grace', key: 'k' })).error).toBeUndefined();
      const pushed = waitPush(watcher, 'project:grace', (d) => d['event'] === 'released', WAIT);
      holder.ws.terminate();
      expect((await pushed)['data']).toMatchObject({ reason: 'connection-lost', lock: { key: 'k', holder: { user: 'h' } } });
      watcher.close();
    } finally {
      await short.stop();
    }
  });

  it('releases the locks a previous run held (its node id and leases are gone), and keeps a foreign row whose lease lives', async () => {
    const locksOf = (srv: DurableServer, channel: string) => srv.api('GET', `/channels/${encodeURIComponent(channel)}/locks`);
    const first = await startDurableServer('sqlite', { locks: { connectionLease: '300ms' } });
    let second: DurableServer | undefined;
    try {
      const holder = await RawClient.connect(first.url, await first.token({ sub: 'ada', caps: CAPS }));
      const granted = reply<LockInfo>(await holder.call('locks.acquire', { channel: 'project:crash', key: 'k' }));
      const db = first.server.storage.db as unknown as Kysely<LockTables>;
      const row = await db.selectFrom('sb_locks').selectAll().where('lock_key', '=', 'k').executeTakeFirstOrThrow();
      holder.close();
      await first.stop();
      // What a kill -9 leaves: the row of a node that will never come back under that id.
      second = await startDurableServer('sqlite', { locks: { connectionLease: '300ms' } }, first.db);
      const db2 = second.server.storage.db as unknown as Kysely<LockTables>;
      await db2.insertInto('sb_locks').values(row).execute();
      const watcher = await RawClient.connect(second.url, await second.token({ sub: 'w', caps: CAPS }));
      await watcher.call('subscribe', { channel: 'project:crash' });
      const released = waitPush(watcher, 'project:crash', (d) => d['event'] === 'released', WAIT);
      expect((await released)['data']).toMatchObject({ reason: 'node-down', lock: { key: 'k', fencingToken: granted.fencingToken, holder: { user: 'ada' } } });
      expect((await locksOf(second, 'project:crash')).body).toEqual({ locks: [] });

      // A row recorded by another node whose lease is alive is that node's: left alone.
      const bob = await RawClient.connect(second.url, await second.token({ sub: 'bob', caps: CAPS }));
      const held = reply<LockInfo>(await bob.call('locks.acquire', { channel: 'project:crash', key: 'live' }));
      await db2.updateTable('sb_locks').set({ node: 'another-node' }).where('lock_key', '=', 'live').execute();
      await second.server.feature<{ sweepOrphans(): Promise<void> }>('locks').sweepOrphans();
      expect((await locksOf(second, 'project:crash')).body).toEqual({ locks: [expect.objectContaining({ key: 'live', fencingToken: held.fencingToken })] });
      bob.close();
      watcher.close();
    } finally {
      await second?.stop();
    }
  });

  it('takes a lease-less row of another node for an orphan only when a second sweep still finds it', async () => {
    const srv = await startDurableServer('sqlite');
    try {
      const locksOf = () => srv.api('GET', `/channels/${encodeURIComponent('project:orphan')}/locks`);
      const bob = await RawClient.connect(srv.url, await srv.token({ sub: 'bob', caps: CAPS }));
      reply<LockInfo>(await bob.call('locks.acquire', { channel: 'project:orphan', key: 'k' }));
      const db = srv.server.storage.db as unknown as Kysely<LockTables>;
      const row = await db.selectFrom('sb_locks').selectAll().where('lock_key', '=', 'k').executeTakeFirstOrThrow();
      // What a release on another node looks like between its lease going and its row going.
      await db
        .insertInto('sb_locks')
        .values({ ...row, lock_key: 'between', node: 'another-node', token: Number(row.token) + 1 })
        .execute();
      const sweep = () => srv.server.feature<{ sweepOrphans(): Promise<void> }>('locks').sweepOrphans();
      await sweep();
      expect(((await locksOf()).body as { locks: LockInfo[] }).locks.map((l) => l.key)).toEqual(['between', 'k']);
      await sweep();
      expect(((await locksOf()).body as { locks: LockInfo[] }).locks.map((l) => l.key)).toEqual(['k']);
      bob.close();
    } finally {
      await srv.stop();
    }
  });

  it('announces a backend lease that ran out with reason expired', async () => {
    const short = await startDurableServer('sqlite', { locks: { minLease: '10ms', sweepInterval: '20ms' } });
    try {
      const watcher = await RawClient.connect(short.url, await short.token({ sub: 'w', caps: CAPS }));
      await watcher.call('subscribe', { channel: 'project:ttl' });
      const pushed = waitPush(watcher, 'project:ttl', (d) => d['event'] === 'released', WAIT);
      const put = await short.api('PUT', `/channels/${encodeURIComponent('project:ttl')}/locks/k`, { body: { userId: 'svc', ttlMs: 30 } });
      expect(put.status, put.text).toBe(200);
      expect((await pushed)['data']).toMatchObject({ reason: 'expired', lock: { key: 'k', holder: { user: 'svc' } } });
      await eventually(async () => (await short.api('GET', `/channels/${encodeURIComponent('project:ttl')}/locks/k`)).status === 404, WAIT, 'lease gone');
      watcher.close();
    } finally {
      await short.stop();
    }
  });
});
