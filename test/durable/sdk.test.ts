import { SwitchboardClient } from '@switchboard/client';
import { activity } from '@switchboard/client/activity';
import { type Notification, notifications, type UnreadCount } from '@switchboard/client/notifications';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../helpers/eventually.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/** The SDK's feature modules `notifications(client)` and `activity(client, scope)` against the real server. */

describe.each(STORES)('SDK notifications and activity feeds on %s', (store) => {
  let s: DurableServer;
  const cleanup: Array<() => void> = [];
  beforeAll(async () => {
    s = await startDurableServer(store);
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    await s?.stop();
  });

  async function connected(user: string, caps?: Record<string, string[]>): Promise<SwitchboardClient> {
    const claims = { sub: user, ...(caps ? { caps } : {}) };
    const client = new SwitchboardClient(s.url, { getToken: () => s.token(claims), WebSocket });
    cleanup.push(() => client.disconnect());
    const ready = new Promise((r) => client.once('connected', r));
    client.connect();
    await ready;
    return client;
  }

  it('lists, counts, marks read and receives notifications and unread counts live', async () => {
    const inbox = notifications(await connected('sdk-ann'));
    const live: Notification[] = [];
    const counts: UnreadCount[] = [];
    inbox.onNotification((n) => live.push(n));
    inbox.onUnreadCount((c) => counts.push(c));
    // Subscribed once the client connected; wait for the subscription to be in place.
    await eventually(() => s.server.node.channels('acme').some((c) => c.channel === 'user:sdk-ann'), 5000, 'the user:sdk-ann subscription');
    await s.api('POST', '/notifications', { body: { user: 'sdk-ann', type: 'mention', title: 'Hi from the backend' } });
    await eventually(() => live.length > 0, 5000, 'the live notification');
    const n = live[0] as Notification;
    expect(n.title).toBe('Hi from the backend');
    await eventually(() => counts.some((c) => c.count === 1), 5000, 'unread count 1');
    expect(await inbox.unreadCount()).toEqual({ count: 1, unseen: 1 });
    expect((await inbox.list({ unreadOnly: true })).notifications.map((x) => x.id)).toEqual([n.id]);
    await inbox.markRead(n.id);
    await eventually(() => counts.some((c) => c.count === 0), 5000, 'unread count 0');
    await expect(inbox.markRead('n_nope')).rejects.toMatchObject({ code: 117 });
    expect(await inbox.setPreferences({ mutedTypes: ['review'] })).toEqual({ mutedTypes: ['review'], mutedCategories: [], minPriority: 'low' });
    expect(await inbox.preferences()).toEqual({ mutedTypes: ['review'], mutedCategories: [], minPriority: 'low' });
    expect(await inbox.markAllRead()).toEqual({ updated: 0 });
    await inbox.archive(n.id);
    expect((await inbox.list({ archived: true })).notifications.map((x) => x.id)).toEqual([n.id]);
  });

  it("lists a scope's activity and receives new activity live", async () => {
    const feed = activity(await connected('sdk-bob', { 'project:*': ['subscribe', 'publish'] }), 'project:77');
    const live: string[] = [];
    feed.onActivity((a) => live.push(a.verb));
    await eventually(() => s.server.node.channels('acme').some((c) => c.channel === 'activity:project:77'), 5000, 'the activity:project:77 subscription');
    await s.api('POST', '/activities', { body: { scope: 'project:77', actor: 'ann', verb: 'created' } });
    const recorded = await feed.record({ verb: 'commented', object: 'task:1' });
    expect(recorded.activity).toMatchObject({ actor: 'sdk-bob', scope: 'project:77' });
    await eventually(() => live.length === 2, 5000, 'both activities live');
    expect(live).toEqual(['created', 'commented']);
    expect((await feed.list({ actor: 'ann' })).activities.map((a) => a.verb)).toEqual(['created']);
  });
});
