// @vitest-environment happy-dom
import type { Subscription, SwitchboardClient } from '@switchboard/client';
import type { Notification, UnreadCount } from '@switchboard/client/notifications';
import { notifications } from '@switchboard/client/notifications';
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../client/test/wait-for.js';
import { type HookResult, SwitchboardProvider, useActivity, useNotificationPreferences, useNotifications, useUnreadCount } from '../src/index.js';
import { perTest, Recorder } from './harness.js';
import { api } from './http-api.js';

const t$ = perTest();

/** Pushes reach the hooks once the SDK's live channel is subscribed. */
async function subscribed(client: SwitchboardClient, channel: string): Promise<void> {
  const sub = client.getSubscription(channel);
  expect(sub).toBeDefined();
  if (sub?.state !== 'subscribed') await waitFor(sub as Subscription, 'subscribed');
}

describe('notification hooks', () => {
  it('useNotifications and useUnreadCount agree with the server after a mark-read from another client', async () => {
    const t = await t$.harness();
    const tab1 = t.client('ann');
    tab1.connect();
    const list = new Recorder<ReturnType<typeof useNotifications>>();
    const unread = new Recorder<ReturnType<typeof useNotifications>>();
    const count = new Recorder<HookResult<UnreadCount>>();
    function Inbox() {
      list.push(useNotifications());
      unread.push(useNotifications({ unreadOnly: true, types: ['mention', 'comment'] }));
      count.push(useUnreadCount());
      return null;
    }
    const root = t$.root();
    root.render(h(SwitchboardProvider, { client: tab1 }, h(Inbox)));
    await count.until((r) => r.data?.count === 0, 'an empty inbox');
    await subscribed(tab1, 'user:ann');

    for (const [type, title] of [
      ['mention', 'Bob mentioned you'],
      ['comment', 'Carol commented'],
      ['digest', 'Your week'],
    ]) {
      await api(t, 'POST', '/notifications', { user: 'ann', type, title });
    }
    await count.until((r) => r.data?.count === 3, 'three unread');
    await list.until((r) => r.data?.length === 3, 'three listed');
    await unread.until((r) => r.data?.length === 2, 'two unread of the chosen types');

    // Another tab of the same user reads one.
    const tab2 = t.client('ann');
    tab2.connect();
    await waitFor(tab2, 'connected');
    const mention = list.last?.data?.find((n) => n.type === 'mention') as Notification;
    await notifications(tab2).markRead(mention.id);

    await count.until((r) => r.data?.count === 2, 'the count after the read');
    await list.until((r) => r.data?.find((n) => n.id === mention.id)?.read === true, 'the list shows it read');
    await unread.until((r) => r.data?.length === 1, 'the unread list dropped it');
    const server = await api<UnreadCount>(t, 'GET', '/notifications/unread-count?user=ann');
    expect(count.last?.data?.count).toBe(server.count);
    const page = await api<{ notifications: Notification[] }>(t, 'GET', '/notifications?user=ann');
    expect(list.last?.data?.map((n) => [n.id, n.read])).toEqual(page.notifications.map((n) => [n.id, n.read]));

    // markAllRead from the hook: both hooks and the server agree on zero.
    await list.last?.markAllRead();
    await count.until((r) => r.data?.count === 0, 'zero unread');
    await unread.until((r) => r.data?.length === 0, 'nothing unread listed');
    expect((await api<UnreadCount>(t, 'GET', '/notifications/unread-count?user=ann')).count).toBe(0);
  });

  it('loads more pages, reads and updates preferences, and lists a scope’s activity live', async () => {
    const t = await t$.harness();
    const client = t.client('ann');
    client.connect();
    for (let i = 0; i < 5; i++) await api(t, 'POST', '/notifications', { user: 'ann', type: 'mention', title: `n${i}` });
    const list = new Recorder<ReturnType<typeof useNotifications>>();
    const prefs = new Recorder<ReturnType<typeof useNotificationPreferences>>();
    const feed = new Recorder<ReturnType<typeof useActivity>>();
    function Probe() {
      list.push(useNotifications({ pageSize: 2 }));
      prefs.push(useNotificationPreferences());
      feed.push(useActivity('project:42', { verb: 'commented' }));
      return null;
    }
    const root = t$.root();
    root.render(h(SwitchboardProvider, { client }, h(Probe)));
    await list.until((r) => r.data?.length === 2 && r.hasMore, 'the first page');
    await list.last?.loadMore();
    await list.last?.loadMore();
    await list.until((r) => r.data?.length === 5 && !r.hasMore, 'every page');
    expect(list.last?.data?.map((n) => n.title)).toEqual(['n4', 'n3', 'n2', 'n1', 'n0']);

    await prefs.until((r) => !r.isLoading, 'preferences');
    await prefs.last?.update({ mutedTypes: ['digest'] });
    await prefs.until((r) => r.data?.mutedTypes.includes('digest') === true, 'updated preferences');

    await feed.until((r) => r.data !== undefined, 'the feed');
    await subscribed(client, 'activity:project:42');
    expect(feed.last?.data).toEqual([]);
    await api(t, 'POST', '/activities', { scope: 'project:42', actor: 'bob', verb: 'commented', object: 'card:1' });
    await api(t, 'POST', '/activities', { scope: 'project:42', actor: 'bob', verb: 'moved', object: 'card:2' });
    await feed.until((r) => r.data?.length === 1, 'the live activity');
    expect(feed.last?.data?.[0]).toMatchObject({ actor: 'bob', verb: 'commented', object: 'card:1' });
  });
});
