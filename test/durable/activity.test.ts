import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activity as A } from '../../packages/client/src/activity.js';
import type { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, pushes, reply, STORES, startDurableServer, waitPush } from './helpers.js';

/**
 * Activity feeds over the real HTTP API and real WebSockets, on SQLite and on PostgreSQL:
 * record, query by actor/verb/scope/time with cursors, live on `activity:{scope}` for
 * exactly who may subscribe to the scope, client recording, grouping, tenancy, bad input.
 */

const FULL = ['subscribe', 'publish', 'presence', 'history', 'signal'];

describe.each(STORES)('activity feeds on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const connect = async (user: string, caps: Record<string, string[]>, tenant = 'acme') => {
    const { RawClient } = await import('../helpers/raw-client.js');
    const c = await RawClient.connect(s.url, await s.token({ sub: user, tenant, caps }));
    open.push(c);
    return c;
  };
  const record = (body: Record<string, unknown>, opts: { key?: string; headers?: Record<string, string> } = {}) =>
    s.api('POST', '/activities', { body: { scope: 'project:1', actor: 'bob', verb: 'edited', ...body }, ...opts });
  const query = async (q: string, key?: string): Promise<{ activities: A[]; nextCursor: string | null }> => {
    const res = await s.api('GET', `/activities?${q}`, key ? { key } : {});
    expect(res.status, res.text).toBe(200);
    return res.body as never;
  };

  beforeAll(async () => {
    s = await startDurableServer(store, {
      activity: { maxDataBytes: 512 },
      namespaces: {
        project: {},
        analytics: { clientPublish: false },
        user: { subscribe: 'owner', clientPublish: false, presence: false },
        activity: { subscribe: 'authenticated', historySize: 0, clientPublish: false, presence: false, signals: false, recovery: false },
      },
    });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('records an activity over HTTP with every field and lists it back', async () => {
    const res = await record({ scope: 'project:10', object: 'node:5', target: 'board:2', data: { from: 'a', to: 'b' }, time: '2024-05-01T10:00:00Z' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ merged: false, activity: { id: expect.stringMatching(/^a_/), scope: 'project:10', actor: 'bob', verb: 'edited' } });
    const { activities } = await query('scope=project:10');
    expect(activities).toEqual([
      {
        id: expect.any(String),
        scope: 'project:10',
        actor: 'bob',
        verb: 'edited',
        object: 'node:5',
        target: 'board:2',
        data: { from: 'a', to: 'b' },
        time: Date.parse('2024-05-01T10:00:00Z'),
        lastTime: Date.parse('2024-05-01T10:00:00Z'),
        count: 1,
        objects: ['node:5'],
        createdAt: expect.any(Number),
      },
    ]);
  });

  it('queries by actor, verb, scope and time range, newest first, with cursor pagination', async () => {
    const base = Date.parse('2024-06-01T00:00:00Z');
    for (let i = 0; i < 6; i++)
      await record({ scope: 'project:20', actor: i % 2 ? 'ann' : 'bob', verb: i < 3 ? 'created' : 'deleted', object: `item:${i}`, time: base + i * 1000 });
    await record({ scope: 'project:21', actor: 'ann', verb: 'created', time: base });
    const objs = (p: { activities: A[] }) => p.activities.map((a) => a.object);
    expect(objs(await query('scope=project:20'))).toEqual(['item:5', 'item:4', 'item:3', 'item:2', 'item:1', 'item:0']);
    expect(objs(await query('scope=project:20&actor=ann'))).toEqual(['item:5', 'item:3', 'item:1']);
    expect(objs(await query('scope=project:20&verb=created'))).toEqual(['item:2', 'item:1', 'item:0']);
    expect(objs(await query(`scope=project:20&since=${base + 2000}&until=${base + 4000}`))).toEqual(['item:3', 'item:2']);
    expect((await query(`actor=ann&since=${base}&until=${base + 1}`)).activities.map((a) => a.scope)).toEqual(['project:21']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { activities: A[]; nextCursor: string | null } = await query(`scope=project:20&limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...objs(page).map(String));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['item:5', 'item:4', 'item:3', 'item:2', 'item:1', 'item:0']);
  });

  it('pushes live on activity:{scope} to who may subscribe to the scope, and refuses everyone else', async () => {
    const member = await connect('m1', { 'project:30': ['subscribe'] });
    const outsider = await connect('o1', { 'project:31': ['subscribe'] });
    expect((await member.call('subscribe', { channel: 'activity:project:30' })).error).toBeUndefined();
    expect((await outsider.call('subscribe', { channel: 'activity:project:30' })).error?.code).toBe(103);
    expect((await outsider.call('subscribe', { channel: 'activity' })).error?.code).toBe(103);
    expect((await outsider.call('subscribe', { channel: 'activity:activity:project:31' })).error?.code).toBe(103);
    expect((await outsider.call('subscribe', { channel: 'activity:nope:1' })).error?.code).toBe(103);
    // The activity namespace keeps no history and has no presence, so nothing leaks around the subscribe check.
    expect((await outsider.call('history', { channel: 'activity:project:30' })).error?.code).toBe(108);
    expect((await outsider.call('presence', { channel: 'activity:project:30' })).error?.code).toBe(108);
    const res = await record({ scope: 'project:30', verb: 'commented', object: 'task:1' });
    const f = await waitPush(member, 'activity:project:30', (d) => d['kind'] === 'activity');
    expect((f['data'] as { activity: A }).activity).toMatchObject({ id: (res.body['activity'] as A).id, verb: 'commented', object: 'task:1' });
    // The personal channel rule carries over: user:x's feed is x's only.
    const own = await connect('u9', {});
    expect((await own.call('subscribe', { channel: 'activity:user:u9' })).error).toBeUndefined();
    expect((await own.call('subscribe', { channel: 'activity:user:someone-else' })).error?.code).toBe(103);
  });

  it('a client records with the publish permission on the scope, as itself, and lists with subscribe', async () => {
    const writer = await connect('writer', { 'project:40': FULL });
    const reader = await connect('reader', { 'project:40': ['subscribe'] });
    const stranger = await connect('stranger', { 'project:41': FULL });
    await reader.call('subscribe', { channel: 'activity:project:40' });
    const rec = reply<{ activity: A }>(await writer.call('activity.record', { scope: 'project:40', verb: 'moved', object: 'card:3', idempotencyKey: 'k1' }));
    expect(rec.activity).toMatchObject({ actor: 'writer', verb: 'moved', scope: 'project:40' });
    const again = reply<{ activity: A; deduplicated?: boolean }>(
      await writer.call('activity.record', { scope: 'project:40', verb: 'moved', object: 'card:3', idempotencyKey: 'k1' }),
    );
    expect(again).toMatchObject({ deduplicated: true, activity: { id: rec.activity.id } });
    await waitPush(reader, 'activity:project:40', (d) => d['kind'] === 'activity');
    expect((await reader.call('activity.record', { scope: 'project:40', verb: 'moved' })).error?.code).toBe(103);
    expect((await writer.call('activity.record', { scope: 'project:40', verb: 'moved', actor: 'ceo' })).error?.code).toBe(107);
    expect((await writer.call('activity.record', { scope: 'analytics:1', verb: 'viewed' })).error?.code).toBe(108);
    expect((await writer.call('activity.record', { scope: 'nope:1', verb: 'viewed' })).error?.code).toBe(102);
    const page = reply<{ activities: A[] }>(await reader.call('activity.list', { scope: 'project:40' }));
    expect(page.activities.map((a) => a.id)).toEqual([rec.activity.id]);
    expect((await stranger.call('activity.list', { scope: 'project:40' })).error?.code).toBe(103);
    expect((await stranger.call('activity.list', {})).error?.code).toBe(107);
    expect(pushes(reader, 'activity:project:40', 'activity')).toHaveLength(1);
  });

  it("a tenant never sees another tenant's activities, over HTTP or the WebSocket", async () => {
    await record({ scope: 'project:50', verb: 'secret' });
    expect((await query('scope=project:50', s.tenantKeys['other'])).activities).toEqual([]);
    expect((await query('verb=secret', s.tenantKeys['other'])).activities).toEqual([]);
    const foreign = await connect('spy', { 'project:*': FULL }, 'other');
    expect(reply<{ activities: A[] }>(await foreign.call('activity.list', { scope: 'project:50' })).activities).toEqual([]);
    await foreign.call('subscribe', { channel: 'activity:project:50' });
    await record({ scope: 'project:50', verb: 'secret2' });
    await record({ scope: 'project:50', verb: 'visible' }, { key: s.tenantKeys['other'] });
    await waitPush(foreign, 'activity:project:50', (d) => d['kind'] === 'activity');
    expect(pushes(foreign, 'activity:project:50', 'activity').map((d) => (d['activity'] as A).verb)).toEqual(['visible']);
  });

  it('an Idempotency-Key records once', async () => {
    const headers = { 'idempotency-key': 'act-1' };
    const a = await record({ scope: 'project:60' }, { headers });
    const b = await record({ scope: 'project:60' }, { headers });
    expect([a.status, b.status]).toEqual([201, 200]);
    expect(b.body).toEqual({ ...a.body, deduplicated: true });
    expect((await query('scope=project:60')).activities).toHaveLength(1);
  });

  it('refuses bad input with a clear 4xx and writes nothing', async () => {
    expectApiError(await record({ scope: 'nope:1' }), 422, 102);
    expectApiError(await record({ scope: 'bad name' }), 422, 110);
    expectApiError(await record({ scope: 'activity:project:70' }), 422, 110, /activity/);
    expectApiError(await record({ scope: 'project:70', verb: 'Edited!' }), 400, 107, /body\.verb/);
    expectApiError(await record({ scope: 'project:70', actor: 'a b' }), 400, 107, /body\.actor/);
    expectApiError(await record({ scope: 'project:70', time: 'last week' }), 400, 107, /body\.time/);
    expectApiError(await record({ scope: 'project:70', data: 'x'.repeat(600) }), 413, 114, /data larger/);
    expectApiError(await s.api('POST', '/activities', { body: { scope: 'project:70', verb: 'x' } }), 400, 107, /body\.actor/);
    expectApiError(await s.api('GET', '/activities?scope=project:70&cursor=%%%'), 400, 107);
    expectApiError(await s.api('GET', '/activities?scope=project:70&cursor=WzEsMl0'), 400, 107, /cursor/);
    expectApiError(await s.api('GET', '/activities?scope=nope:1'), 422, 102);
    expectApiError(await s.api('GET', '/activities', { key: null }), 401, 101);
    expect((await query('scope=project:70')).activities).toEqual([]);
  });
});

describe.each(STORES)('activity grouping on %s', (store) => {
  let s: DurableServer;
  beforeAll(async () => {
    s = await startDurableServer(store, { activity: { groupWindow: '1h' } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('merges consecutive activities of one actor and verb in one scope within the window ("Bob edited 3 nodes")', async () => {
    const t = Date.parse('2024-07-01T00:00:00Z');
    const rec = (actor: string, verb: string, object: string, dt: number) =>
      s.api('POST', '/activities', { body: { scope: 'project:80', actor, verb, object, time: t + dt } });
    const first = await rec('bob', 'edited', 'node:1', 0);
    const second = await rec('bob', 'edited', 'node:2', 1000);
    await rec('bob', 'edited', 'node:1', 2000);
    await rec('bob', 'edited', 'node:3', 3000);
    expect(second.body['merged']).toBe(true);
    await rec('ann', 'edited', 'node:4', 4000); // another actor breaks the run
    await rec('bob', 'edited', 'node:5', 5000);
    await rec('bob', 'edited', 'node:6', 2 * 3_600_000); // outside the window
    const { activities } = (await s.api('GET', '/activities?scope=project:80')).body as { activities: A[] };
    expect(activities.map((a) => [a.actor, a.count, a.objects])).toEqual([
      ['bob', 1, ['node:6']],
      ['bob', 1, ['node:5']],
      ['ann', 1, ['node:4']],
      ['bob', 4, ['node:3', 'node:1', 'node:2']],
    ]);
    expect(activities[3]?.id).toBe((first.body['activity'] as A).id);
    expect(activities[3]).toMatchObject({ time: t, lastTime: t + 3000 });
  });
});
