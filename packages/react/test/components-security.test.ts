// @vitest-environment happy-dom
import type { PresenceMember, SignalEvent, Subscription } from '@switchboard/client';
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../client/test/wait-for.js';
import { ActivityTimeline, AvatarStack, LiveCursors, NotificationInbox, SwitchboardProvider, Toaster, TypingIndicator } from '../src/index.js';
import { screen, unmountScreens } from './dom.js';
import { perTest } from './harness.js';
import { api } from './http-api.js';
import { member } from './members.js';

const t$ = perTest(unmountScreens, () => {
  delete (globalThis as { pwned?: unknown }).pwned;
});

/** Markup that runs script if it is ever parsed as HTML. */
const IMG = '<img src=x onerror="globalThis.pwned=1">';
const SCRIPT = '<script>globalThis.pwned=2</script>';
/** A user id as hostile as the id rules allow (no `<`, but quotes, `=` and parentheses). */
const USER = "x'onerror=alert(1)";

/** The elements the components make: anything else came from someone's string. */
const OURS = new Set(['div', 'span', 'ul', 'ol', 'li', 'p', 'strong', 'button', 'time', 'section', 'label', 'select', 'option', 'svg', 'path']);

describe('components and hostile strings', () => {
  it('render user ids, presence state, notification titles and bodies and activity text as text, creating no element from them', async () => {
    const t = await t$.harness();
    const ch = 'project:xss';
    const ann = t.client('ann');
    ann.connect();
    const view = screen();
    const stateName = (m: PresenceMember) => String((m.devices[0]?.state as { name?: unknown } | null)?.name ?? m.user);
    view.root.render(
      h(
        SwitchboardProvider,
        { client: ann },
        h(AvatarStack, { channel: ch, className: 'by-info' }),
        h(AvatarStack, { channel: ch, className: 'by-state', name: stateName }),
        h(TypingIndicator, { channel: ch }),
        h(LiveCursors, { channel: ch }),
        h(NotificationInbox, {}),
        h(Toaster, { duration: 0 }),
        h(ActivityTimeline, { scope: ch }),
      ),
    );
    await t.counts.until(() => t.counts.live(ch) === 1 && t.counts.live('user:ann') === 1 && t.counts.live(`activity:${ch}`) === 1, 'ann subscribed');

    const hostile = await member(t, USER, ch, { name: SCRIPT }, { getToken: () => t.server.token({ sub: USER, info: { name: IMG } }) });
    const annSub = ann.getSubscription(ch) as Subscription;
    const seen: SignalEvent[] = [];
    annSub.on('signal', (s) => seen.push(s));
    hostile.sub.signal('typing', true);
    hostile.sub.signal('cursor', { x: 10, y: 20 });
    await waitUntil(annSub, 'signal', () => seen.length === 2);
    await api(t, 'POST', '/notifications', { user: 'ann', type: 'mention', title: IMG, body: SCRIPT, priority: 'high' });
    await api(t, 'POST', '/activities', { scope: ch, actor: USER, verb: 'commented', object: IMG, target: SCRIPT });

    const c = view.container;
    await view.until(
      () =>
        view.all('presence-avatar').length === 2 &&
        view.one('typing-indicator') !== null &&
        view.one(`cursor-${USER}`) !== null &&
        view.one('toast') !== null &&
        view.all('activity-item').length === 1 &&
        c.querySelectorAll('.sb-notification').length === 1,
      'every component shows the hostile strings',
    );
    expect(c.querySelector('.by-info [data-testid="presence-avatar"]')?.textContent).toContain(`${IMG} (online)`);
    expect(c.querySelector('.by-state [data-testid="presence-avatar"]')?.textContent).toContain(`${SCRIPT} (online)`);
    expect(view.one('typing-indicator')?.textContent).toBe(`${USER} is typing…`);
    expect(view.one(`cursor-${USER}`)?.textContent).toBe(USER);
    expect(view.one('toast')?.textContent).toContain(IMG);
    expect(view.one('toast')?.textContent).toContain(SCRIPT);
    expect(c.querySelector('.sb-notification')?.textContent).toContain(`${IMG}${SCRIPT}`);
    expect(view.one('activity-item')?.textContent).toContain(`${USER} commented ${IMG} → ${SCRIPT}`);

    const tags = new Set([...c.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()));
    expect([...tags].filter((tag) => !OURS.has(tag))).toEqual([]);
    expect(c.querySelectorAll('img, script')).toHaveLength(0);
    expect((globalThis as { pwned?: unknown }).pwned).toBeUndefined();
  });
});
