// @vitest-environment happy-dom
import type { SignalEvent, Subscription, SwitchboardClient } from '@switchboard/client';
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../client/test/wait-for.js';
import { type Cursor, type HookResult, useCursors, useMyPresence, useOthers, usePresence, useTyping } from '../src/index.js';
import { controlledFrames } from './dom.js';
import { perTest, Recorder } from './harness.js';
import { member } from './members.js';

const t$ = perTest();

const mount = (client: SwitchboardClient, ...children: ReturnType<typeof h>[]) => t$.render(client, ...children);

describe('presence hooks', () => {
  it('useOthers with a count selector does not re-render when another member’s state or cursor changes', async () => {
    const t = await t$.harness();
    const ch = 'project:others';
    const alice = t.client('alice');
    alice.connect();
    const count = new Recorder<HookResult<number>>();
    const all = new Recorder<HookResult<unknown[]>>();
    function Count() {
      count.push(useOthers(ch, (o) => o.length));
      return null;
    }
    function All() {
      all.push(usePresence(ch));
      return null;
    }
    mount(alice, h(Count), h(All));
    const bob = await member(t, 'bob', ch, { page: '/a' });
    await count.until((r) => r.data === 1, 'one other');
    const carol = await member(t, 'carol', ch, { page: '/a' });
    await count.until((r) => r.data === 2, 'two others');
    const rendersAtTwo = count.renders;

    // Bob changes his state and moves his cursor, many times.
    const aliceSub = alice.getSubscription(ch) as Subscription;
    let updates = 0;
    let cursors = 0;
    aliceSub.on('update', () => updates++);
    aliceSub.on('signal', () => cursors++);
    for (let i = 0; i < 5; i++) {
      await bob.sub.updatePresence({ page: `/p${i}` });
      bob.sub.signal('cursor', { x: i, y: i });
      await waitUntil(aliceSub, 'signal', () => cursors === i + 1);
    }
    await waitUntil(aliceSub, 'update', () => updates >= 5);
    // The presence store did change (the unselected hook saw Bob's last state) ...
    await all.until((r) => JSON.stringify(r.data).includes('/p4'), 'the full list shows the last state');
    // ... and the count selector did not render again.
    expect(count.renders).toBe(rendersAtTwo);
    expect(count.last?.data).toBe(2);

    // The count changes: it renders.
    carol.client.disconnect();
    await count.until((r) => r.data === 1, 'one other again');
    expect(count.renders).toBe(rendersAtTwo + 1);
  });

  it('useCursors renders at most once per animation frame however fast cursors arrive', async () => {
    const t = await t$.harness();
    const ch = 'project:cursors';
    // Frames run when the test says so.
    const frame = controlledFrames();
    t$.after(frame.restore);
    const alice = t.client('alice');
    alice.connect();
    const rec = new Recorder<HookResult<readonly Cursor<{ x: number }>[]>>();
    function Cursors() {
      rec.push(useCursors<{ x: number }>(ch));
      return null;
    }
    mount(alice, h(Cursors));
    await rec.until((r) => !r.isLoading, 'subscribed');
    const bob = await member(t, 'bob', ch, null);
    const aliceSub = alice.getSubscription(ch) as Subscription;
    const seen: SignalEvent[] = [];
    aliceSub.on('signal', (s) => seen.push(s));

    for (let batch = 1; batch <= 3; batch++) {
      const before = rec.renders;
      for (let i = 0; i < 20; i++) {
        bob.sub.signal('cursor', { x: batch * 100 + i });
        await waitUntil(aliceSub, 'signal', () => seen.length === (batch - 1) * 20 + i + 1);
      }
      // Twenty cursors arrived within one frame: nothing rendered yet.
      expect(rec.renders).toBe(before);
      expect(frame.pending).toBe(1);
      frame.run();
      await rec.until((r) => r.data?.[0]?.position.x === batch * 100 + 19, 'the frame rendered the last position');
      expect(rec.renders).toBe(before + 1);
      expect(rec.last?.data).toEqual([expect.objectContaining({ user: 'bob', position: { x: batch * 100 + 19 } })]);
    }
  });

  it('useMyPresence sets this connection’s state, others see it, and useTyping shows who types', async () => {
    const t = await t$.harness();
    const ch = 'project:me';
    const alice = t.client('alice');
    alice.connect();
    const me = new Recorder<ReturnType<typeof useMyPresence<{ page: string }>>>();
    const typing = new Recorder<ReturnType<typeof useTyping>>();
    function Me() {
      me.push(useMyPresence<{ page: string }>(ch));
      typing.push(useTyping(ch));
      return null;
    }
    mount(alice, h(Me));
    await me.until((r) => !r.isLoading && r.data === null, 'subscribed, no state yet');
    const bob = await member(t, 'bob', ch, null);
    const joined = waitUntil(bob.sub, 'join', () => true);
    await me.last?.update({ page: '/docs' });
    await me.until((r) => r.data?.page === '/docs', 'my state shown');
    await joined;
    const members = await bob.sub.presence();
    expect(members.find((m) => m.user === 'alice')?.devices[0]?.state).toEqual({ page: '/docs' });

    bob.sub.signal('typing', true);
    await typing.until((r) => r.data?.includes('bob') === true, 'bob types');
    bob.sub.signal('typing', false);
    await typing.until((r) => r.data?.length === 0, 'bob stopped');
    const seen: SignalEvent[] = [];
    bob.sub.on('signal', (s) => seen.push(s));
    typing.last?.setTyping(true);
    await waitUntil(bob.sub, 'signal', () => seen.some((s) => s.key === 'typing' && s.data === true && s.from.user === 'alice'));
  });
});
