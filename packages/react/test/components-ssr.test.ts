import { createElement as h, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import {
  ActivityTimeline,
  AvatarStack,
  ConnectionStatus,
  LiveCursors,
  NotificationBell,
  NotificationInbox,
  SwitchboardProvider,
  Toaster,
  TypingIndicator,
} from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { perTest } from './harness.js';

const t$ = perTest();

/** Every component, once. */
function everyComponent(): ReactNode[] {
  return [
    h(ConnectionStatus, { key: 1 }),
    h(AvatarStack, { key: 2, channel: 'project:ssr' }),
    h(TypingIndicator, { key: 3, channel: 'project:ssr' }),
    h(LiveCursors, { key: 4, channel: 'project:ssr' }, h('p', null, 'board')),
    h(NotificationBell, { key: 5 }),
    h(NotificationInbox, { key: 6, types: ['mention'] }),
    h(Toaster, { key: 7 }),
    h(ActivityTimeline, { key: 8, scope: 'project:ssr' }),
  ];
}

describe('components on the server', () => {
  for (const kind of ['url', 'client', 'suspense'] as const) {
    it(`renderToString of every component (provider with ${kind}) neither throws nor opens a socket, and renders the same twice`, async () => {
      const t = await t$.harness();
      const { props, client } = t.provider(kind === 'suspense' ? 'client' : kind);
      const Provider = kind === 'suspense' ? suspense.SwitchboardProvider : SwitchboardProvider;
      const html = renderToString(h(Provider, props, ...everyComponent()));
      expect(renderToString(h(Provider, props, ...everyComponent()))).toBe(html);
      for (const id of ['connection-status', 'notification-bell', 'notification-count']) expect(html).toContain(`data-testid="${id}"`);
      expect(html).toContain('>disconnected<');
      expect(html).not.toContain('data-testid="toast"');
      expect(html).not.toContain('data-testid="activity-item"');

      expect(client.state).toBe('disconnected');
      expect(await t.connections()).toBe(0);
      expect(t.counts.connects).toBe(0);
    });
  }
});
