import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notification as N } from '../../packages/client/src/notifications.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, pushes, reply, STORES, startDurableServer, waitPush } from './helpers.js';

/**
 * The notifications inbox over the real HTTP API and real WebSockets, on SQLite and on
 * PostgreSQL: create (one, many, everyone), live delivery, read state, unread pushes,
 * pagination and filters, idempotency, bad input, tenancy.
 */

describe.each(STORES)('notifications on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const device = async (user: string, tenant = 'acme') => {
    const c = await s.device(user, { tenant });
    open.push(c);
    return c;
  };
  const notify = (body: Record<string, unknown>, opts: { key?: string | null; headers?: Record<string, string> } = {}) =>
    s.api('POST', '/notifications', { body: { type: 'mention', title: 'Hello', ...body }, ...opts });
  const list = async (user: string, query = '', key?: string | null): Promise<{ notifications: N[]; nextCursor: string | null }> => {
    const res = await s.api('GET', `/notifications?user=${encodeURIComponent(user)}${query}`, key === undefined ? {} : { key });
    expect(res.status, res.text).toBe(200);
    return res.body as never;
  };

  beforeAll(async () => {
    s = await startDurableServer(store, { limits: { httpBodyBytes: 8192 }, notifications: { maxDataBytes: 1024, maxRecipients: 5 } });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('creates a notification for one user with every field, and lists it back', async () => {
    const res = await notify({
      user: 'ann',
      type: 'approval',
      title: 'Approve the budget',
      body: 'Q3 numbers',
      data: { amount: 12, tags: ['a'] },
      link: '/budgets/7',
      priority: 'high',
      category: 'finance',
      actor: { id: 'bob', name: 'Bob' },
      resource: 'budget:7',
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ count: 1, notifications: [{ id: expect.stringMatching(/^n_/), user: 'ann', merged: false, pushed: true }] });
    const { notifications } = await list('ann');
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({
      user: 'ann',
      type: 'approval',
      title: 'Approve the budget',
      body: 'Q3 numbers',
      data: { amount: 12, tags: ['a'] },
      link: '/budgets/7',
      priority: 'high',
      category: 'finance',
      actor: { id: 'bob', name: 'Bob' },
      actors: [{ id: 'bob', name: 'Bob' }],
      actorCount: 1,
      count: 1,
      resource: 'budget:7',
      groupKey: null,
      read: false,
      seen: false,
      archived: false,
      createdAt: expect.any(Number),
      readAt: null,
    });
  });

  it('delivers live to every connected device of the user through user:{sub}, and to nobody else', async () => {
    const phone = await device('cat');
    const laptop = await device('cat');
    const other = await device('dan');
    const res = await notify({ user: 'cat', title: 'Live one' });
    const id = (res.body['notifications'] as N[])[0]?.id;
    for (const c of [phone, laptop]) {
      const f = await waitPush(c, 'user:cat', (d) => d['kind'] === 'notification');
      expect((f['data'] as { notification: N }).notification).toMatchObject({ id, title: 'Live one', user: 'cat' });
      await waitPush(c, 'user:cat', (d) => d['kind'] === 'unread' && d['count'] === 1);
    }
    await notify({ user: 'dan', title: 'for dan' });
    await waitPush(other, 'user:dan', (d) => d['kind'] === 'notification');
    expect(pushes(other, 'user:dan', 'notification').map((d) => (d['notification'] as N).title)).toEqual(['for dan']);
    expect(pushes(phone, 'user:cat', 'notification')).toHaveLength(1);
  });

  it('a user who was offline finds the notifications on return, over the WebSocket command', async () => {
    await notify({ user: 'eve', title: 'while you were away' });
    const c = await device('eve');
    const page = reply<{ notifications: N[] }>(await c.call('notifications.list', {}));
    expect(page.notifications.map((n) => n.title)).toEqual(['while you were away']);
    expect(reply(await c.call('notifications.unread_count', {}))).toEqual({ count: 1, unseen: 1 });
  });

  it('creates for a list of users in one request', async () => {
    const res = await notify({ users: ['u1', 'u2', 'u3'], title: 'Team' });
    expect(res.status, res.text).toBe(201);
    expect((res.body['notifications'] as N[]).map((n) => n.user)).toEqual(['u1', 'u2', 'u3']);
    for (const u of ['u1', 'u2', 'u3']) expect((await list(u)).notifications.map((n) => n.title)).toEqual(['Team']);
  });

  it('creates for every user of the tenant: users seen on a connection, given notifications or preferences', async () => {
    const key = s.tenantKeys['demo'];
    const connected = await device('seen-only', 'demo');
    await s.api('POST', '/notifications', { key, body: { user: 'notified', type: 'system', title: 'first' } });
    await s.api('PUT', '/notifications/preferences', { key, body: { user: 'prefs-only', mutedTypes: ['review'] } });
    const res = await s.api('POST', '/notifications', { key, body: { everyone: true, type: 'system', title: 'Maintenance tonight' } });
    expect(res.status, res.text).toBe(201);
    expect((res.body['notifications'] as N[]).map((n) => n.user).sort()).toEqual(['notified', 'prefs-only', 'seen-only']);
    await waitPush(connected, 'user:seen-only', (d) => d['kind'] === 'notification');
    // Another tenant's users are not "every user" of this one.
    expect((await list('seen-only', '', s.tenantKeys['acme'])).notifications).toEqual([]);
  });

  it('records every user of a burst of concurrent connections (written in batches) before their connect is answered', async () => {
    const key = s.tenantKeys['other'];
    const users = Array.from({ length: 40 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
    await Promise.all(users.map((u) => device(u, 'other')));
    const res = await s.api('POST', '/notifications', { key, body: { everyone: true, type: 'system', title: 'Burst' } });
    expect(res.status, res.text).toBe(201);
    expect((res.body['notifications'] as N[]).map((n) => n.user).sort()).toEqual(users);
  });

  it('an Idempotency-Key makes a retried create a no-op that answers the first result', async () => {
    const headers = { 'idempotency-key': 'create-42' };
    const first = await notify({ users: ['idem1', 'idem2'], title: 'once' }, { headers });
    const second = await notify({ users: ['idem1', 'idem2'], title: 'once' }, { headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ ...first.body, deduplicated: true });
    expect((await list('idem1')).notifications).toHaveLength(1);
    // Keys are per tenant: the same key in another tenant creates.
    const other = await notify({ user: 'idem1', title: 'once' }, { headers, key: s.tenantKeys['other'] });
    expect(other.status).toBe(201);
    expect((await list('idem1')).notifications).toHaveLength(1);
  });

  it('concurrent retries with one Idempotency-Key create exactly once', async () => {
    const headers = { 'idempotency-key': 'race-1' };
    const results = await Promise.all(Array.from({ length: 8 }, () => notify({ user: 'racer', title: 'race' }, { headers })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect((await list('racer')).notifications).toHaveLength(1);
  });

  it('refuses bad input with a clear 4xx and writes nothing', async () => {
    const before = (await list('bad')).notifications.length;
    expectApiError(await notify({ user: 'has space', title: 'x' }), 400, 107, /body\.user: not a valid user id/);
    expectApiError(await notify({ user: 'a:b', title: 'x' }), 400, 107, /not a valid user id/);
    expectApiError(await notify({ user: 'bad', priority: 'urgent' }), 400, 107, /body\.priority/);
    expectApiError(await notify({ user: 'bad', type: 'Not A Type' }), 400, 107, /body\.type/);
    expectApiError(await notify({ user: 'bad', title: '' }), 400, 107, /body\.title/);
    expectApiError(await notify({ title: 'no recipients' }), 400, 107, /exactly one of user, users or everyone/);
    expectApiError(await notify({ user: 'bad', users: ['bad'] }), 400, 107, /exactly one of/);
    expectApiError(await notify({ users: ['a', 'b', 'c', 'd', 'e', 'f'] }), 400, 107, /body\.users/);
    expectApiError(await notify({ users: ['bad', 'bad'] }), 400, 107, /distinct/);
    expectApiError(await notify({ user: 'bad', unknownField: 1 }), 400, 107, /unrecognized|unknownField/i);
    expectApiError(await notify({ user: 'bad', data: { blob: 'x'.repeat(2000) } }), 413, 114, /data larger than 1024 bytes/);
    expectApiError(await notify({ user: 'bad', body: 'x'.repeat(9000) }), 413, 114);
    expectApiError(await s.api('POST', '/notifications', { rawBody: '{"user":"bad",' }), 400, 107);
    expectApiError(await notify({ user: 'bad' }, { headers: { 'idempotency-key': 'k'.repeat(129) } }), 400, 107, /Idempotency-Key/);
    expect((await list('bad')).notifications).toHaveLength(before);
    expect((await s.api('GET', '/notifications/unread-count?user=bad')).body).toEqual({ count: 0, unseen: 0 });
  });

  it("needs an API key, and a tenant key never sees another tenant's notifications", async () => {
    expectApiError(await s.api('GET', '/notifications?user=ann', { key: null }), 401, 101);
    expectApiError(await s.api('POST', '/notifications', { key: 'sb_wrong', body: { user: 'ann', type: 'mention', title: 'x' } }), 401, 101);
    const created = await notify({ user: 'tina', title: 'acme secret' });
    const id = (created.body['notifications'] as N[])[0]?.id as string;
    expect((await list('tina', '', s.tenantKeys['other'])).notifications).toEqual([]);
    expectApiError(await s.api('POST', `/notifications/${id}/read`, { key: s.tenantKeys['other'], body: { user: 'tina' } }), 404, 117);
    expectApiError(await s.api('POST', `/notifications/${id}/archive`, { key: s.tenantKeys['other'], body: { user: 'tina' } }), 404, 117);
    // A tenant key naming another tenant is refused; the admin key acts in the tenant it names.
    expectApiError(await s.api('GET', '/notifications?user=tina', { tenant: 'other' }), 403, 103);
    const asAdmin = await s.api('GET', '/notifications?user=tina', { key: s.apiKey, tenant: 'acme' });
    expect((asAdmin.body['notifications'] as N[]).map((n) => n.id)).toEqual([id]);
    expect((await s.api('GET', '/notifications?user=tina', { key: s.apiKey, tenant: 'other' })).body['notifications'] as N[]).toEqual([]);
    expect((await list('tina')).notifications[0]?.read).toBe(false);
  });

  it("another user's notification id is NotFound: 404 over HTTP, 117 over the WebSocket, like a missing id", async () => {
    const created = await notify({ user: 'owner1', title: 'mine' });
    const id = (created.body['notifications'] as N[])[0]?.id as string;
    expectApiError(await s.api('POST', `/notifications/${id}/read`, { body: { user: 'intruder' } }), 404, 117);
    expectApiError(await s.api('POST', '/notifications/n_doesnotexist/read', { body: { user: 'owner1' } }), 404, 117);
    const intruder = await device('intruder');
    for (const method of ['notifications.mark_read', 'notifications.archive']) {
      expect((await intruder.call(method, { id })).error?.code).toBe(117);
      expect((await intruder.call(method, { id: 'n_doesnotexist' })).error?.code).toBe(117);
    }
    expect((await intruder.call('notifications.mark_read', { id: 'not-an-id' })).error?.code).toBe(107);
    // A client cannot name another user at all: the commands take no user.
    expect((await intruder.call('notifications.list', { user: 'owner1' })).error?.code).toBe(107);
    expect(reply<{ notifications: N[] }>(await intruder.call('notifications.list', {})).notifications).toEqual([]);
    const [n] = (await list('owner1')).notifications;
    expect(n).toMatchObject({ id, read: false, archived: false });
  });

  it('marks one read, all read, archives, and pushes the unread count to every device on each change', async () => {
    const a = await device('reader');
    const b = await device('reader');
    const ids: string[] = [];
    for (const title of ['one', 'two', 'three']) ids.push(((await notify({ user: 'reader', title })).body['notifications'] as N[])[0]?.id as string);
    for (const c of [a, b]) await waitPush(c, 'user:reader', (d) => d['kind'] === 'unread' && d['count'] === 3);

    expect(reply(await a.call('notifications.mark_read', { id: ids[0] }))).toEqual({});
    for (const c of [a, b]) await waitPush(c, 'user:reader', (d) => d['kind'] === 'unread' && d['count'] === 2);
    // Marking an already read one again changes nothing.
    expect(reply(await a.call('notifications.mark_read', { id: ids[0] }))).toEqual({});

    expect(reply(await b.call('notifications.archive', { id: ids[1] }))).toEqual({});
    for (const c of [a, b]) await waitPush(c, 'user:reader', (d) => d['kind'] === 'unread' && d['count'] === 1);
    const visible = reply<{ notifications: N[] }>(await a.call('notifications.list', {})).notifications;
    expect(visible.map((n) => n.title)).toEqual(['three', 'one']);
    const archived = reply<{ notifications: N[] }>(await a.call('notifications.list', { archived: true })).notifications;
    expect(archived.map((n) => n.title)).toEqual(['two']);

    expect(reply(await a.call('notifications.mark_all_read', {}))).toEqual({ updated: 2 });
    for (const c of [a, b]) await waitPush(c, 'user:reader', (d) => d['kind'] === 'unread' && d['count'] === 0);
    expect(reply(await a.call('notifications.unread_count', {}))).toEqual({ count: 0, unseen: 0 });
    const all = (await list('reader')).notifications;
    expect(all.every((n) => n.read && n.seen)).toBe(true);
  });

  it('mirrors read state over HTTP for the backend, with unread and unseen counts', async () => {
    const c = await device('httpuser');
    const ids: string[] = [];
    for (const title of ['a', 'b']) ids.push(((await notify({ user: 'httpuser', title })).body['notifications'] as N[])[0]?.id as string);
    expect((await s.api('GET', '/notifications/unread-count?user=httpuser')).body).toEqual({ count: 2, unseen: 2 });
    expect((await s.api('POST', '/notifications/seen', { body: { user: 'httpuser' } })).body).toEqual({ updated: 2 });
    await waitPush(c, 'user:httpuser', (d) => d['kind'] === 'unread' && d['count'] === 2 && d['unseen'] === 0);
    expect((await s.api('POST', `/notifications/${ids[0]}/read`, { body: { user: 'httpuser' } })).status).toBe(200);
    expect((await s.api('POST', `/notifications/${ids[1]}/archive`, { body: { user: 'httpuser' } })).status).toBe(200);
    await waitPush(c, 'user:httpuser', (d) => d['kind'] === 'unread' && d['count'] === 0);
    expect((await s.api('POST', '/notifications/read-all', { body: { user: 'httpuser' } })).body).toEqual({ updated: 1 });
    expectApiError(await s.api('POST', '/notifications/read-all', { body: {} }), 400, 107, /body\.user/);
  });

  it('pages with an opaque cursor, newest first, without duplicates or gaps, and refuses a bad cursor', async () => {
    for (let i = 0; i < 7; i++) await notify({ user: 'pager', title: `p${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { notifications: N[]; nextCursor: string | null } = await list('pager', `&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.notifications.map((n) => n.title));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0']);
    expectApiError(await s.api('GET', '/notifications?user=pager&cursor=garbage!'), 400, 107, /cursor/);
    expectApiError(await s.api('GET', `/notifications?user=pager&cursor=${Buffer.from('[1,"x y"]').toString('base64url')}`), 400, 107, /cursor/);
    expectApiError(await s.api('GET', '/notifications?user=pager&limit=0'), 400, 107, /limit/);
    const c = await device('pager');
    expect((await c.call('notifications.list', { cursor: 'eyJub3QiOiJhIGN1cnNvciJ9' })).error?.code).toBe(107);
  });

  it('filters by unread, type and since', async () => {
    await notify({ user: 'filt', type: 'alert', title: 'old alert' });
    const r = await notify({ user: 'filt', type: 'review', title: 'review me' });
    const reviewId = (r.body['notifications'] as N[])[0]?.id as string;
    const mid = (await list('filt')).notifications[0]?.createdAt as number;
    await s.api('POST', `/notifications/${reviewId}/read`, { body: { user: 'filt' } });
    await notify({ user: 'filt', type: 'alert', title: 'new alert' });
    expect((await list('filt', '&type=alert')).notifications.map((n) => n.title)).toEqual(['new alert', 'old alert']);
    expect((await list('filt', '&unreadOnly=true')).notifications.map((n) => n.title)).toEqual(['new alert', 'old alert']);
    const since = (await list('filt', `&since=${mid}`)).notifications.map((n) => n.title);
    expect(since).toContain('new alert');
    expect(since).toContain('review me');
    expect((await list('filt', `&since=${new Date(Date.now() + 60_000).toISOString()}`)).notifications).toEqual([]);
    expectApiError(await s.api('GET', '/notifications?user=filt&since=yesterday'), 400, 107, /since/);
    expectApiError(await s.api('GET', '/notifications?user=filt&unreadOnly=maybe'), 400, 107, /unreadOnly/);
  });

  it('stores muted notifications without pushing them; critical ignores mutes; preferences round-trip', async () => {
    const c = await device('muter');
    expect(reply(await c.call('notifications.preferences.get', {}))).toEqual({ mutedTypes: [], mutedCategories: [], minPriority: 'low' });
    expect(reply(await c.call('notifications.preferences.set', { mutedTypes: ['review'], mutedCategories: ['marketing'] }))).toEqual({
      mutedTypes: ['review'],
      mutedCategories: ['marketing'],
      minPriority: 'low',
    });
    const put = await s.api('PUT', '/notifications/preferences', { body: { user: 'muter', minPriority: 'high' } });
    expect(put.body).toEqual({ mutedTypes: ['review'], mutedCategories: ['marketing'], minPriority: 'high' });
    expect((await s.api('GET', '/notifications/preferences?user=muter')).body).toEqual(put.body);
    expectApiError(await s.api('PUT', '/notifications/preferences', { body: { user: 'muter', minPriority: 'loud' } }), 400, 107);

    const muted = [
      await notify({ user: 'muter', type: 'review', title: 'muted by type', priority: 'high' }),
      await notify({ user: 'muter', type: 'message', category: 'marketing', title: 'muted by category', priority: 'high' }),
      await notify({ user: 'muter', type: 'message', title: 'below min priority', priority: 'normal' }),
    ];
    for (const m of muted) expect((m.body['notifications'] as Array<{ pushed: boolean }>)[0]?.pushed).toBe(false);
    const critical = await notify({ user: 'muter', type: 'review', category: 'marketing', title: 'critical gets through', priority: 'critical' });
    expect((critical.body['notifications'] as Array<{ pushed: boolean }>)[0]?.pushed).toBe(true);
    await waitPush(c, 'user:muter', (d) => d['kind'] === 'notification');
    await waitPush(c, 'user:muter', (d) => d['kind'] === 'unread' && d['count'] === 4);
    // Publications on one channel arrive in order: had a muted one been pushed, it would be here.
    expect(pushes(c, 'user:muter', 'notification').map((d) => (d['notification'] as N).title)).toEqual(['critical gets through']);
    expect((await list('muter')).notifications).toHaveLength(4);
  });

  it('merges notifications with the same group key into one: actors list and counts', async () => {
    const c = await device('grouped');
    const ids = new Set<string>();
    for (const [who, name] of [
      ['ann', 'Ann'],
      ['bob', 'Bob'],
      ['ann', 'Ann'],
      ['cy', 'Cy'],
    ] as const) {
      const res = await notify({ user: 'grouped', type: 'message', title: `${name} commented`, groupKey: 'post:9:comments', actor: { id: who, name } });
      ids.add((res.body['notifications'] as N[])[0]?.id as string);
    }
    expect(ids.size).toBe(1);
    const [n, ...rest] = (await list('grouped')).notifications;
    expect(rest).toEqual([]);
    expect(n).toMatchObject({ count: 4, actorCount: 3, title: 'Cy commented', groupKey: 'post:9:comments', actor: { id: 'cy' } });
    expect(n?.actors.map((a) => a.id)).toEqual(['cy', 'ann', 'bob']);
    await waitPush(c, 'user:grouped', (d) => d['kind'] === 'notification' && (d['notification'] as N).count === 4);
    expect(new Set(pushes(c, 'user:grouped', 'notification').map((d) => (d['notification'] as N).id)).size).toBe(1);
    // Once read, the group is closed: the next one starts a new notification.
    await s.api('POST', `/notifications/${n?.id}/read`, { body: { user: 'grouped' } });
    await notify({ user: 'grouped', type: 'message', title: 'Dee commented', groupKey: 'post:9:comments', actor: { id: 'dee' } });
    expect((await list('grouped')).notifications.map((x) => x.count)).toEqual([1, 4]);
    // Another group key never merges.
    await notify({ user: 'grouped', type: 'message', title: 'other post', groupKey: 'post:10:comments' });
    expect((await list('grouped')).notifications).toHaveLength(3);
  });

  it('grouped notifications sent at once to the same users merge without losing one: the count is the number sent', async () => {
    const users = ['g-a', 'g-b', 'g-c'];
    const sent = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        s.api('POST', '/notifications', { body: { users, type: 'message', title: `reply ${i}`, groupKey: 'thread:77:reply', actor: { id: `w${i % 7}` } } }),
      ),
    );
    for (const r of sent) expect(r.status, r.text).toBe(201);
    const merged = sent.flatMap((r) => (r.body['notifications'] as Array<{ user: string; merged: boolean; id: string }>).map((n) => n));
    for (const user of users) {
      const mine = merged.filter((n) => n.user === user);
      // One request created the user's notification, every other merged into it.
      expect(mine.filter((n) => !n.merged)).toHaveLength(1);
      expect(new Set(mine.map((n) => n.id)).size).toBe(1);
      const [n, ...rest] = (await list(user)).notifications;
      expect(rest).toEqual([]);
      expect(n).toMatchObject({ count: 30, actorCount: 7, groupKey: 'thread:77:reply' });
    }
  });

  it('clients may not create notifications unless the configuration allows it', async () => {
    const c = await device('client-sender', 'acme');
    expect((await c.call('notifications.create', { user: 'ann', type: 'mention', title: 'hi' })).error?.code).toBe(108);
  });
});

describe.each(STORES)('notifications with short windows and client creation on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const clock = new ManualClock();
  beforeAll(async () => {
    s = await startDurableServer(store, { now: clock.now, notifications: { groupWindow: '1ms', clientCreate: true, clientTypes: ['mention'] } });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });
  const listTitles = async (user: string) => ((await s.api('GET', `/notifications?user=${user}`)).body['notifications'] as N[]).map((n) => n.title);

  it('does not merge a group key outside the window', async () => {
    await s.api('POST', '/notifications', { body: { user: 'late', type: 'message', title: 'first', groupKey: 'g' } });
    clock.advance(2);
    await s.api('POST', '/notifications', { body: { user: 'late', type: 'message', title: 'second', groupKey: 'g' } });
    expect(await listTitles('late')).toEqual(['second', 'first']);
  });

  it('a client with the publish capability on user:{recipient} creates an allowed type, as itself', async () => {
    const sender = await s.device('mentioner', { caps: { 'user:*': ['publish'] } });
    const recipient = await s.device('mentioned');
    open.push(sender, recipient);
    const res = reply<{ notifications: N[] }>(
      await sender.call('notifications.create', { user: 'mentioned', type: 'mention', title: '@mentioned look', idempotencyKey: 'm1' }),
    );
    expect(res.notifications).toHaveLength(1);
    const again = reply<{ deduplicated?: boolean }>(
      await sender.call('notifications.create', { user: 'mentioned', type: 'mention', title: '@mentioned look', idempotencyKey: 'm1' }),
    );
    expect(again.deduplicated).toBe(true);
    const f = await waitPush(recipient, 'user:mentioned', (d) => d['kind'] === 'notification');
    expect((f['data'] as { notification: N }).notification).toMatchObject({ title: '@mentioned look', actor: { id: 'mentioner' } });
    expect(await listTitles('mentioned')).toEqual(['@mentioned look']);
  });

  it('refuses client creation without the capability, of other types, critical, or with a spoofed actor', async () => {
    const plain = await s.device('nocap');
    const capped = await s.device('capped', { caps: { 'user:*': ['publish'] } });
    open.push(plain, capped);
    expect((await plain.call('notifications.create', { user: 'victim', type: 'mention', title: 'x' })).error?.code).toBe(103);
    expect((await capped.call('notifications.create', { user: 'victim', type: 'alert', title: 'x' })).error?.code).toBe(103);
    expect((await capped.call('notifications.create', { user: 'victim', type: 'mention', title: 'x', priority: 'critical' })).error?.code).toBe(103);
    expect((await capped.call('notifications.create', { user: 'victim', type: 'mention', title: 'x', actor: { id: 'ceo' } })).error?.code).toBe(107);
    expect(await listTitles('victim')).toEqual([]);
  });
});
