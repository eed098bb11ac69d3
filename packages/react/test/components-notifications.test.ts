// @vitest-environment happy-dom
import { type Notification, notifications, type UnreadCount } from '@switchboard/client/notifications';
import { createElement as h, StrictMode } from 'react';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../client/test/wait-for.js';
import { ActivityTimeline, NotificationBell, NotificationInbox, SwitchboardProvider, Toaster } from '../src/index.js';
import { choose, screen, unmountScreens } from './dom.js';
import { type Harness, perTest } from './harness.js';
import { api } from './http-api.js';

const realObserver = globalThis.IntersectionObserver;
const t$ = perTest(unmountScreens, () => {
  globalThis.IntersectionObserver = realObserver;
});

/** Pushes reach the components once the SDK's live channel is subscribed (counted on the server). */
function subscribed(t: Harness, channel: string): Promise<void> {
  return t.counts.until(() => t.counts.live(channel) > 0, `${channel} subscribed`);
}

/** IntersectionObservers the test drives: `scrollIntoView()` tells each observed element it is visible. */
function controlledObservers(): { scrollIntoView(): void; observed(): number } {
  const live = new Set<{ cb: IntersectionObserverCallback; targets: Element[] }>();
  class Observer {
    readonly #entry: { cb: IntersectionObserverCallback; targets: Element[] };
    constructor(cb: IntersectionObserverCallback) {
      this.#entry = { cb, targets: [] };
      live.add(this.#entry);
    }
    observe(target: Element) {
      this.#entry.targets.push(target);
    }
    disconnect() {
      live.delete(this.#entry);
    }
  }
  globalThis.IntersectionObserver = Observer as unknown as typeof IntersectionObserver;
  return {
    scrollIntoView() {
      for (const { cb, targets } of [...live]) {
        cb(
          targets.map((target) => ({ target, isIntersecting: true }) as unknown as IntersectionObserverEntry),
          null as unknown as IntersectionObserver,
        );
      }
    },
    observed: () => [...live].reduce((n, e) => n + e.targets.length, 0),
  };
}

describe('NotificationBell and Toaster', () => {
  it('a notification over HTTP raises the bell count and one toast at or above the chosen priority (under StrictMode); a read in another tab clears both', async () => {
    const t = await t$.harness();
    await api(t, 'POST', '/notifications', { user: 'ann', type: 'mention', title: 'Before the page', priority: 'high' });
    const tab1 = t.client('ann');
    tab1.connect();
    const view = screen();
    view.root.render(
      h(
        StrictMode,
        null,
        h(SwitchboardProvider, { client: tab1 }, h(NotificationBell, { controls: 'inbox', expanded: false }), h(Toaster, { minPriority: 'high', duration: 0 })),
      ),
    );
    const bell = () => view.one('notification-bell') as HTMLButtonElement;
    const count = () => view.one('notification-count') as HTMLElement;
    await view.until(() => view.one('notification-count')?.textContent === '1', 'the unread count');
    await subscribed(t, 'user:ann');
    expect(bell().tagName).toBe('BUTTON');
    expect(bell().getAttribute('aria-label')).toBe('Notifications, 1 unread');
    expect(bell().getAttribute('aria-controls')).toBe('inbox');
    expect(view.all('toast')).toHaveLength(0); // there before the page: no toast

    const low = await api<{ notifications: Array<{ id: string }> }>(t, 'POST', '/notifications', {
      user: 'ann',
      type: 'message',
      title: 'FYI',
      priority: 'normal',
    });
    await view.until(() => count().textContent === '2', 'two unread');
    const high = await api<{ notifications: Array<{ id: string }> }>(t, 'POST', '/notifications', {
      user: 'ann',
      type: 'alert',
      title: 'Disk almost full',
      body: '95 % used',
      priority: 'critical',
    });
    await view.until(() => view.all('toast').length === 1, 'a toast');
    const [toast] = view.all('toast');
    expect(toast?.getAttribute('role')).toBe('alert');
    expect(toast?.dataset['priority']).toBe('critical');
    expect(toast?.textContent).toContain('Disk almost full');
    expect(toast?.textContent).toContain('95 % used');
    expect(count().textContent).toBe('3');
    expect(bell().getAttribute('aria-label')).toBe('Notifications, 3 unread');

    // Another tab of the same user reads the critical one: its toast and one count go.
    const tab2 = t.client('ann');
    tab2.connect();
    await waitFor(tab2, 'connected');
    await notifications(tab2).markRead(high.notifications[0]?.id as string);
    await view.until(() => count().textContent === '2' && view.all('toast').length === 0, 'read elsewhere');
    await notifications(tab2).markRead(low.notifications[0]?.id as string);
    await notifications(tab2).markAllRead();
    await view.until(() => count().textContent === '0', 'all read');
    expect(count().hidden).toBe(true);
    expect(bell().getAttribute('aria-label')).toBe('Notifications, 0 unread');
  });

  it('a toast goes by itself after its duration, or when dismissed; one below the priority never shows', async () => {
    const t = await t$.harness();
    const client = t.client('ann');
    client.connect();
    const view = screen();
    view.root.render(
      h(
        SwitchboardProvider,
        { client },
        h('div', { className: 'brief' }, h(Toaster, { duration: 150 })),
        h('div', { className: 'sticky' }, h(Toaster, { duration: 0 })),
      ),
    );
    const toasts = (where: string) => [...view.container.querySelectorAll<HTMLElement>(`.${where} [data-testid="toast"]`)];
    await view.until(() => view.container.querySelector('.sb-toaster') !== null, 'the toasters');
    await subscribed(t, 'user:ann');
    // Wait until the list loaded (the toaster counts what is there as seen).
    const unread = new Promise<UnreadCount>((resolve) => notifications(client).onUnreadCount(resolve));
    await api(t, 'POST', '/notifications', { user: 'ann', type: 'digest', title: 'Quiet', priority: 'low' });
    await unread;
    await api(t, 'POST', '/notifications', { user: 'ann', type: 'mention', title: 'Bob mentioned you' });
    await view.until(() => toasts('brief').length === 1 && toasts('sticky').length === 1, 'both toasters show it');
    expect(toasts('brief')[0]?.getAttribute('role')).toBe('status');
    await view.until(() => toasts('brief').length === 0, 'the brief toast went by itself');
    expect(toasts('sticky')).toHaveLength(1);
    expect(view.container.textContent).not.toContain('Quiet');
    const dismiss = toasts('sticky')[0]?.querySelector('button') as HTMLButtonElement;
    expect(dismiss.getAttribute('aria-label')).toBe('Dismiss: Bob mentioned you');
    dismiss.click();
    await view.until(() => toasts('sticky').length === 0, 'dismissed');
  });
});

describe('NotificationInbox', () => {
  it('filters by type, marks one and all read, and loads the next page as the end of the list scrolls into view', async () => {
    const t = await t$.harness();
    for (let i = 0; i < 5; i++) await api(t, 'POST', '/notifications', { user: 'ann', type: i % 2 === 0 ? 'mention' : 'alert', title: `n${i}` });
    const scroll = controlledObservers();
    const client = t.client('ann');
    client.connect();
    const view = screen();
    const opened: Notification[] = [];
    view.root.render(
      h(SwitchboardProvider, { client }, h(NotificationInbox, { id: 'inbox', types: ['mention', 'alert'], pageSize: 2, onOpen: (n) => opened.push(n) })),
    );
    const items = () => [...view.container.querySelectorAll<HTMLLIElement>('ul.sb-inbox-list > li')];
    const titles = () => items().map((li) => li.querySelector('.sb-notification-title')?.textContent);
    await view.until(() => items().length === 2, 'the first page');
    expect(titles()).toEqual(['n4', 'n3']);
    expect(view.container.querySelector('section#inbox')?.getAttribute('aria-label')).toBe('Notifications');

    scroll.scrollIntoView();
    await view.until(() => items().length === 4, 'the second page');
    scroll.scrollIntoView();
    await view.until(() => items().length === 5, 'the last page');
    expect(titles()).toEqual(['n4', 'n3', 'n2', 'n1', 'n0']);
    expect(view.container.querySelector('.sb-load-more')).toBeNull();
    expect(scroll.observed()).toBe(0);

    // Titles are buttons when the app opens notifications.
    (items()[0]?.querySelector('button.sb-notification-title') as HTMLButtonElement).click();
    expect(opened.map((n) => n.title)).toEqual(['n4']);

    choose(view.container.querySelector('select') as HTMLSelectElement, 'alert');
    await view.until(() => titles().join() === 'n3,n1', 'only alerts');
    const read = items()[0]?.querySelector('.sb-notification-read') as HTMLButtonElement;
    expect(read.getAttribute('aria-label')).toBe('Mark read: n3');
    read.click();
    await view.until(() => items()[0]?.dataset['read'] === 'true', 'n3 read');
    expect(items()[0]?.querySelector('.sb-notification-read')).toBeNull();
    expect((await api<UnreadCount>(t, 'GET', '/notifications/unread-count?user=ann')).count).toBe(4);

    view.button('Mark all read').click();
    await view.until(() => items().every((li) => li.dataset['read'] === 'true'), 'all read');
    expect((await api<UnreadCount>(t, 'GET', '/notifications/unread-count?user=ann')).count).toBe(0);
    // Back to every type: the first page again, all read.
    choose(view.container.querySelector('select') as HTMLSelectElement, '');
    await view.until(() => titles().join() === 'n4,n3' && items().every((li) => li.dataset['read'] === 'true'), 'every type, all read');

    // Offline, an action fails with the SDK's code, shown as an alert.
    client.disconnect();
    view.button('Mark all read').click();
    await view.until(() => view.container.querySelector('[role="alert"]') !== null, 'the failure shown');
    expect(view.container.querySelector('[role="alert"]')?.textContent).toMatch(/^Notifications failed \(\d+\)$/);
  });
});

describe('ActivityTimeline', () => {
  it('lists a scope’s activities live and filters them by user, type and time range', async () => {
    let offset = 0;
    const t = await t$.harness({ now: () => Date.now() + offset });
    const record = (actor: string, verb: string, object: string) => api(t, 'POST', '/activities', { scope: 'project:7', actor, verb, object });
    // One activity two hours ago (the server's clock moved back for it).
    offset = -2 * 3_600_000;
    await record('carol', 'archived', 'card:0');
    offset = 0;
    await record('bob', 'commented', 'card:1');
    await record('carol', 'moved', 'card:2');
    const client = t.client('ann');
    client.connect();
    const view = screen();
    view.root.render(h(SwitchboardProvider, { client }, h(ActivityTimeline, { scope: 'project:7', verbs: ['completed'] })));
    const items = () => view.all('activity-item');
    const shown = () => items().map((li) => `${li.dataset['actor']} ${li.dataset['verb']}`);
    await view.until(() => items().length === 3, 'the feed');
    expect(view.container.querySelector('ol.sb-activity-list')).not.toBeNull();
    expect(shown()).toEqual(['carol moved', 'bob commented', 'carol archived']);
    expect(items()[0]?.textContent).toContain('carol moved card:2');
    expect(items()[0]?.querySelector('time')?.getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);

    await subscribed(t, 'activity:project:7');
    await record('bob', 'completed', 'card:3');
    await view.until(() => items().length === 4, 'the live activity');
    expect(shown()[0]).toBe('bob completed');

    const [user, type, time] = [...view.container.querySelectorAll('select')] as HTMLSelectElement[];
    expect([...(user as HTMLSelectElement).options].map((o) => o.value)).toEqual(['', 'bob', 'carol']);
    expect([...(type as HTMLSelectElement).options].map((o) => o.value)).toEqual(['', 'archived', 'commented', 'completed', 'moved']);
    choose(user as HTMLSelectElement, 'carol');
    await view.until(() => shown().join() === 'carol moved,carol archived', 'carol’s activities');
    choose(time as HTMLSelectElement, '1');
    await view.until(() => shown().join() === 'carol moved', 'carol’s in the last hour');
    choose(user as HTMLSelectElement, '');
    choose(type as HTMLSelectElement, 'commented');
    await view.until(() => shown().join() === 'bob commented', 'comments in the last hour');
    // A new activity of another type stays out of the filtered list.
    await record('bob', 'moved', 'card:4');
    await record('dave', 'commented', 'card:5');
    await view.until(() => shown().join() === 'dave commented,bob commented', 'the live comment');
  });
});
