import { createElement as h, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import * as plain from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { perTest } from './harness.js';

const t$ = perTest();

/** Every hook's plain result, in one render. */
function useEveryHook(): Record<string, unknown> {
  const others = plain.useOthers('project:ssr', (o) => o.length);
  const typing = plain.useTyping('project:ssr');
  const cursors = plain.useCursors('project:ssr', { throttleMs: 30 });
  const mine = plain.useMyPresence('project:ssr');
  const notifications = plain.useNotifications({ unreadOnly: true, types: ['mention'] });
  const preferences = plain.useNotificationPreferences();
  const activity = plain.useActivity('project:ssr', { verb: 'commented' });
  plain.usePublish('project:ssr');
  plain.useErrorListener(() => {});
  return {
    connection: plain.useConnectionStatus(),
    channel: plain.useChannel('project:ssr'),
    presence: plain.usePresence('project:ssr'),
    presenceSelected: plain.usePresence('project:ssr', (m) => m.map((x) => x.user)),
    others,
    unread: plain.useUnreadCount(),
    typing: typing.data,
    cursors: cursors.data,
    mine: mine.data,
    notifications: notifications.data,
    preferences: preferences.data,
    activity: activity.data,
    loading: [typing, cursors, mine, notifications, preferences, activity].map((r) => r.isLoading),
  };
}

function Suspended(): ReactNode {
  suspense.useChannel('project:ssr');
  suspense.useOthers('project:ssr');
  suspense.useUnreadCount();
  suspense.useNotifications();
  suspense.useActivity('project:ssr');
  return h('p', null, 'live');
}

function tree(provider: plain.SwitchboardProviderProps, seen: Array<Record<string, unknown>>): ReactNode {
  function Every() {
    seen.push(useEveryHook());
    return h('p', null, 'plain');
  }
  return h(
    plain.SwitchboardProvider,
    provider,
    h(Every),
    h(suspense.ClientSideSuspense, { fallback: h('p', null, 'loading') }, () => h(Suspended)),
  );
}

describe('server rendering', () => {
  for (const kind of ['url', 'client'] as const) {
    it(`renderToString of every hook (provider with ${kind}) neither throws nor opens a socket, with stable server snapshots`, async () => {
      const t = await t$.harness();
      const { props: provider, client } = t.provider(kind);
      const seen: Array<Record<string, unknown>> = [];
      const html = renderToString(tree(provider, seen));
      renderToString(tree(provider, seen));
      expect(html).toBe('<p>plain</p><!--$--><p>loading</p><!--/$-->');
      expect(seen).toHaveLength(2);
      const [first, second] = seen as [Record<string, unknown>, Record<string, unknown>];
      for (const key of Object.keys(first)) {
        if (key === 'loading') expect(second[key]).toEqual(first[key]);
        else expect(second[key], key).toBe(first[key]);
      }
      expect(first['loading']).toEqual([true, true, true, true, true, true]);
      expect(first['channel']).toEqual({ data: undefined, isLoading: true, error: null });

      expect(client.state).toBe('disconnected');
      expect(await t.connections()).toBe(0);
      expect(t.counts.connects).toBe(0);
    });
  }
});
