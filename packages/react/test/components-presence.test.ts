// @vitest-environment happy-dom
import type { SignalEvent, Subscription } from '@switchboard/client';
import { createElement as h, Profiler } from 'react';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../client/test/wait-for.js';
import { AvatarStack, LiveCursors, SwitchboardProvider, TypingIndicator } from '../src/index.js';
import { controlledFrames, screen, unmountScreens } from './dom.js';
import { perTest } from './harness.js';
import { member } from './members.js';

const t$ = perTest(unmountScreens);

/** The text of an element, without extra spaces. */
const text = (el: Element | null | undefined) => el?.textContent?.replace(/\s+/g, ' ').trim() ?? '';

/** What a screen reader reads of an element: its text without the aria-hidden parts. */
function spoken(el: Element | null | undefined): string {
  if (!el) return '';
  const copy = el.cloneNode(true) as Element;
  for (const hidden of copy.querySelectorAll('[aria-hidden="true"]')) hidden.remove();
  return text(copy);
}

describe('AvatarStack', () => {
  it('shows members as they join with their status and accessible name, +N past max, and drops one who leaves', async () => {
    const t = await t$.harness();
    const ch = 'project:avatars';
    const alice = t.client('alice');
    alice.connect();
    const view = screen();
    view.root.render(
      h(
        SwitchboardProvider,
        { client: alice },
        h(AvatarStack, { channel: ch, max: 2, className: 'all' }),
        h(AvatarStack, { channel: ch, includeSelf: false, className: 'others' }),
      ),
    );
    const stack = (name: string) => view.container.querySelector(`ul.${name}`) as HTMLUListElement;
    const avatars = (name: string) => [...stack(name).querySelectorAll<HTMLElement>('[data-testid="presence-avatar"]')];
    await t.counts.until(() => t.counts.live(ch) === 1, 'alice subscribed');

    const bob = await member(t, 'bob', ch, null, { getToken: () => t.server.token({ sub: 'bob', info: { name: 'Bob Stone' } }) });
    await view.until(() => avatars('all').length === 1, 'bob’s avatar');
    const [avatar] = avatars('all');
    expect(avatar?.dataset['user']).toBe('bob');
    expect(avatar?.dataset['status']).toBe('online');
    expect(spoken(avatar)).toBe('Bob Stone (online)');
    expect(avatar?.querySelector('[aria-hidden="true"]')?.textContent).toBe('BS');
    expect(avatar?.title).toBe('Bob Stone (online)');
    expect(stack('all').getAttribute('aria-label')).toBe('1 person here');

    await bob.client.setStatus('away');
    await view.until(() => avatars('all')[0]?.dataset['status'] === 'away', 'bob away');
    expect(spoken(avatars('all')[0])).toBe('Bob Stone (away)');

    const carol = await member(t, 'carol', ch, null);
    const dave = await member(t, 'dave', ch, null);
    const more = () => stack('all').querySelector('.sb-avatar-more');
    await view.until(() => more() !== null, 'the overflow');
    expect(avatars('all').map((a) => a.dataset['user'])).toEqual(['bob', 'carol']);
    expect(spoken(more())).toBe('1 more: dave');
    expect(more()?.querySelector('[aria-hidden="true"]')?.textContent).toBe('+1');
    expect(stack('all').getAttribute('aria-label')).toBe('3 people here');

    // Alice enters presence: the full stack counts her, the others-only one does not.
    await (alice.getSubscription(ch) as Subscription).enterPresence(null);
    await view.until(() => stack('all').getAttribute('aria-label') === '4 people here', 'alice present');
    expect(avatars('others').map((a) => a.dataset['user'])).toEqual(['bob', 'carol', 'dave']);

    dave.client.disconnect();
    carol.client.disconnect();
    await view.until(() => more() === null && avatars('others').length === 1, 'dave and carol left');
    expect(avatars('all').map((a) => a.dataset['user'])).toEqual(['bob', 'alice']);
  });
});

describe('TypingIndicator', () => {
  it('shows who types in a status region and disappears after the typing timeout', async () => {
    const t = await t$.harness();
    const ch = 'chat:typing';
    const alice = t.client('alice');
    alice.connect();
    const view = screen();
    view.root.render(h(SwitchboardProvider, { client: alice }, h(TypingIndicator, { channel: ch })));
    const bob = await member(t, 'bob', ch, null);
    const carol = await member(t, 'carol', ch, null);
    await t.counts.until(() => t.counts.live(ch) === 3, 'all three subscribed');
    const region = view.container.querySelector('[role="status"]');
    expect(region).not.toBeNull();
    expect(view.one('typing-indicator')).toBeNull();

    bob.sub.signal('typing', true);
    await view.until(() => text(view.one('typing-indicator')) === 'bob is typing…', 'bob types');
    carol.sub.signal('typing', true);
    await view.until(() => text(view.one('typing-indicator')) === 'bob and carol are typing…', 'both type');
    carol.sub.signal('typing', false);
    await view.until(() => text(view.one('typing-indicator')) === 'bob is typing…', 'carol stopped');

    // Bob never says he stopped: the indicator goes by itself after the timeout.
    await view.until(() => view.one('typing-indicator') === null, 'the indicator gone');
    expect(view.container.querySelector('[role="status"]')).toBe(region);
  });
});

describe('LiveCursors', () => {
  it('draws one cursor per other user where they point, renders at most once per animation frame, and sends this user’s pointer', async () => {
    const t = await t$.harness();
    const ch = 'project:cursors';
    const frame = controlledFrames();
    t$.after(frame.restore);
    const alice = t.client('alice');
    alice.connect();
    let commits = 0;
    const view = screen();
    view.root.render(
      h(
        SwitchboardProvider,
        { client: alice },
        h(
          Profiler,
          { id: 'cursors', onRender: () => commits++ },
          h(LiveCursors, { channel: ch, throttleMs: 0, style: { width: 400, height: 300 } }, h('p', null, 'the board')),
        ),
      ),
    );
    await t.counts.until(() => t.counts.live(ch) === 1, 'alice subscribed');
    const bob = await member(t, 'bob', ch, null);
    const bobTab2 = await member(t, 'bob', ch, null);
    const aliceTab2 = await member(t, 'alice', ch, null);
    const mallory = await member(t, 'mallory', ch, null);
    const aliceSub = alice.getSubscription(ch) as Subscription;
    const seen: SignalEvent[] = [];
    aliceSub.on('signal', (s) => seen.push(s));
    const send = async (from: Subscription, position: unknown) => {
      const before = seen.length;
      from.signal('cursor', position);
      await waitUntil(aliceSub, 'signal', () => seen.length === before + 1).catch((e) => {
        throw new Error(`send ${JSON.stringify(position)}: ${e}`);
      });
    };
    frame.run();

    for (let batch = 1; batch <= 3; batch++) {
      const before = commits;
      for (let i = 0; i < 20; i++) await send(bob.sub, { x: batch * 100 + i, y: i });
      // Twenty positions within one frame: nothing rendered yet, one frame requested.
      expect(commits).toBe(before);
      expect(frame.pending).toBe(1);
      frame.run();
      await view.until(() => view.one('cursor-bob')?.style.transform === `translate(${batch * 100 + 19}px, 19px)`, `batch ${batch} drawn`);
      expect(commits).toBe(before + 1);
    }

    // Bob's second tab, Alice's own other tab and a position that is not one.
    await send(bobTab2.sub, { x: 5, y: 6 });
    await send(aliceTab2.sub, { x: 7, y: 8 });
    await send(mallory.sub, { x: 'calc(100% - 1px)', y: 2 });
    frame.run();
    await view.until(() => view.one('cursor-bob')?.style.transform === 'translate(5px, 6px)', 'bob’s latest tab drawn');
    expect(view.all('cursor-bob')).toHaveLength(1);
    expect(view.one('cursor-alice')).toBeNull();
    expect(view.one('cursor-mallory')).toBeNull();
    const layer = view.one('cursor-bob')?.parentElement as HTMLElement;
    expect(layer.getAttribute('aria-hidden')).toBe('true');
    expect(layer.style.position).toBe('absolute');
    expect(text(view.one('cursor-bob'))).toBe('bob');

    // Alice's pointer over the container goes out as her cursor.
    const got: SignalEvent[] = [];
    bob.sub.on('signal', (s) => got.push(s));
    const board = view.container.querySelector('.sb-live-cursors') as HTMLElement;
    board.dispatchEvent(new PointerEvent('pointermove', { clientX: 30, clientY: 40, bubbles: true }));
    await waitUntil(bob.sub, 'signal', () => got.some((s) => s.key === 'cursor' && s.from.user === 'alice'));
    expect(got.find((s) => s.key === 'cursor')?.data).toEqual({ x: 30, y: 40 });
    // React derives pointerleave from pointerout towards an element outside.
    board.dispatchEvent(new PointerEvent('pointerout', { bubbles: true, relatedTarget: document.body }));
    await waitUntil(bob.sub, 'signal', () => got.some((s) => s.key === 'cursor' && s.data === null));
  });
});
