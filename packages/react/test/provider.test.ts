// @vitest-environment happy-dom
import { createElement as h, StrictMode, useEffect } from 'react';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../../client/test/wait-for.js';
import { type HookResult, SwitchboardProvider, useChannel, useConnectionStatus, usePresence } from '../src/index.js';
import { perTest, Recorder } from './harness.js';

const t$ = perTest();

function mount(element: ReturnType<typeof h>): ReturnType<typeof t$.root> {
  const root = t$.root();
  root.render(element);
  return root;
}

describe('SwitchboardProvider', () => {
  it('opens exactly one WebSocket under StrictMode, and closes it and every subscription on unmount', async () => {
    const t = await t$.harness();
    const status = new Recorder<string | undefined>();
    const channel = new Recorder<HookResult<unknown>>();
    function Probe() {
      status.push(useConnectionStatus().data?.state);
      channel.push(useChannel('project:strict'));
      usePresence('project:strict');
      return null;
    }
    const root = mount(
      h(
        StrictMode,
        null,
        h(SwitchboardProvider, { url: t.server.url, getToken: () => t.server.token({ sub: 'alice' }), options: { WebSocket } }, h(Probe), h(Probe)),
      ),
    );
    await status.until((s) => s === 'connected', 'connected');
    await channel.until((r) => !r.isLoading, 'subscribed');
    await t.counts.until(() => t.counts.live('project:strict') === 1, 'the server announced the subscription');
    expect(t.counts.connects).toBe(1);
    expect(t.counts.subscribes.get('project:strict')).toBe(1);
    expect(t.counts.live('project:strict')).toBe(1);

    root.unmount();
    await t.counts.until(() => t.counts.disconnects === 1 && t.counts.live('project:strict') === 0, 'the socket closed');
    expect(t.counts.connects).toBe(1);
  });

  it('shares one SDK subscription between components and releases it when the last unmounts', async () => {
    const t = await t$.harness();
    const client = t.client('alice');
    client.connect();
    // Connected before mounting: a subscribe made by the hooks goes out at once.
    await waitFor(client, 'connected');
    const a = new Recorder<HookResult<unknown>>();
    const b = new Recorder<HookResult<unknown>>();
    function A() {
      a.push(useChannel('project:shared'));
      return null;
    }
    function B() {
      b.push(usePresence('project:shared'));
      return null;
    }
    const tree = (children: ReturnType<typeof h>[]) => h(StrictMode, null, h(SwitchboardProvider, { client }, ...children));
    const root = mount(tree([h(A, { key: 'a' }), h(B, { key: 'b' })]));
    await a.until((r) => !r.isLoading, 'A subscribed');
    await b.until((r) => !r.isLoading, 'B has presence');
    await t.counts.until(() => t.counts.live('project:shared') === 1, 'the server announced the subscription');
    expect(t.counts.subscribes.get('project:shared')).toBe(1);
    expect(client.getSubscription('project:shared')?.state).toBe('subscribed');

    // One of the two unmounts: the subscription stays.
    root.render(tree([h(A, { key: 'a' })]));
    await a.until(() => true, 'A rendered again');
    await Promise.resolve();
    expect(client.getSubscription('project:shared')).toBeDefined();
    expect(t.counts.live('project:shared')).toBe(1);

    // The last one unmounts: released, and the server's count returns to zero; the socket stays.
    root.render(tree([]));
    await t.counts.until(() => t.counts.live('project:shared') === 0, 'the server unsubscribed');
    expect(client.getSubscription('project:shared')).toBeUndefined();
    expect(client.state).toBe('connected');
    expect(t.counts.subscribes.get('project:shared')).toBe(1);
  });

  it('leaves a subscription the app made itself alone when its hooks unmount', async () => {
    const t = await t$.harness();
    const client = t.client('alice');
    const own = client.subscribe('project:app');
    client.connect();
    await waitFor(own, 'subscribed');
    const a = new Recorder<HookResult<unknown>>();
    function A() {
      a.push(useChannel('project:app'));
      return null;
    }
    const root = mount(h(SwitchboardProvider, { client }, h(A)));
    await a.until((r) => !r.isLoading, 'the hook sees it subscribed');
    const effects = new Recorder<string>();
    function B() {
      useEffect(() => effects.push('mounted'), []);
      return null;
    }
    root.render(h(SwitchboardProvider, { client }, h(B)));
    // A's cleanup ran in the same commit as B's effect; the release a microtask later, before this round trip ends.
    await effects.until(() => true, 'the new tree committed');
    await own.publish('after');
    expect(client.getSubscription('project:app')).toBe(own);
    expect(own.state).toBe('subscribed');
    expect(t.counts.live('project:app')).toBe(1);
  });
});
