// @vitest-environment happy-dom
import type { Subscription, SwitchboardClient } from '@switchboard/client';
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../client/test/wait-for.js';
import { type Cursor, type HookResult, SwitchboardProvider, useCursors, useOthers } from '../src/index.js';
import { perTest, Recorder } from './harness.js';

const t$ = perTest();

const MEMBERS = 100;
/** Rounds of cursor moves, one every 33 ms (30 Hz): MEMBERS × ROUNDS moves in all. */
const ROUNDS = 3;

describe('useOthers in a crowd', () => {
  it(`a component that selects only the member count renders 0 times while ${MEMBERS} members move their cursors at 30 Hz`, async () => {
    const t = await t$.harness();
    const ch = 'project:crowd';
    const alice = t.client('alice');
    alice.connect();
    const count = new Recorder<HookResult<number>>();
    const cursors = new Recorder<HookResult<readonly Cursor<{ x: number; y: number; round: number }>[]>>();
    function Count() {
      count.push(useOthers(ch, (o) => o.length));
      return null;
    }
    function Cursors() {
      cursors.push(useCursors<{ x: number; y: number; round: number }>(ch));
      return null;
    }
    const root = t$.root();
    root.render(h(SwitchboardProvider, { client: alice }, h(Count), h(Cursors)));

    const members: Array<{ client: SwitchboardClient; sub: Subscription }> = await Promise.all(
      Array.from({ length: MEMBERS }, async (_, i) => {
        const client = t.client(`member-${i}`, { signalInterval: 0 });
        const sub = client.subscribe(ch);
        client.connect();
        await waitFor(sub, 'subscribed');
        await sub.enterPresence({ page: '/board' });
        return { client, sub };
      }),
    );
    await count.until((r) => r.data === MEMBERS, `${MEMBERS} others`, 20_000);
    const rendersAtFull = count.renders;

    for (let round = 0; round < ROUNDS; round++) {
      members.forEach(({ sub }, i) => {
        sub.signal('cursor', { x: i, y: round, round });
      });
      if (round < ROUNDS - 1) await new Promise((r) => setTimeout(r, 33));
    }
    // Every member's last position arrived (the cursor store changed, at most once per animation frame) ...
    await cursors.until(
      (r) => r.data?.length === MEMBERS && r.data.every((c) => c.position.round === ROUNDS - 1),
      'every member’s last cursor position',
      20_000,
    );
    // ... and the count did not render once.
    expect(count.renders - rendersAtFull).toBe(0);
    expect(count.last?.data).toBe(MEMBERS);
  });
});
