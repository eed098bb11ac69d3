import type { FeatureModule, NodeContext } from '@switchboard/server';
import { describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer } from './helpers/server.js';

/** What a feature reads of the node's connections: one tenant's, connected, with what the hooks announced. */
describe('localSessions', () => {
  it("lists one tenant's open connections with their announced subscriptions and presence states, and nothing once they end", async () => {
    let node: NodeContext | null = null;
    const feature: FeatureModule = {
      name: 'sessions-probe',
      start: (ctx) => {
        node = ctx.node;
      },
    };
    const s = await startTestServer({ features: [feature] });
    const view = (tenant: string) =>
      (node as NodeContext | null)
        ?.localSessions(tenant)
        .map((x) => ({
          user: x.client.identity?.user,
          channels: x.channels.map((c) => ({ channel: c.channel.channel, presence: c.presence })).sort((a, b) => a.channel.localeCompare(b.channel)),
        }))
        .sort((a, b) => String(a.user).localeCompare(String(b.user)));
    try {
      const ann = await RawClient.connect(s.url, await s.token({ sub: 'ann' }));
      const bob = await RawClient.connect(s.url, await s.token({ sub: 'bob' }));
      const eve = await RawClient.connect(s.url, await s.token({ sub: 'eve', tenant: 'demo' }));
      await ann.call('subscribe', { channel: 'project:1' });
      await ann.call('subscribe', { channel: 'project:2' });
      await ann.call('presence_set', { channel: 'project:2', state: { page: '/a' } });
      await eve.call('subscribe', { channel: 'project:1' });
      // afterSubscribe runs once the reply went out.
      await eventually(() => view('acme')?.find((x) => x.user === 'ann')?.channels.length === 2, 2000, "ann's subscriptions");
      expect(view('acme')).toEqual([
        {
          user: 'ann',
          channels: [
            { channel: 'project:1', presence: null },
            { channel: 'project:2', presence: { state: JSON.stringify({ page: '/a' }) } },
          ],
        },
        { user: 'bob', channels: [] },
      ]);
      expect(view('demo')).toEqual([{ user: 'eve', channels: [{ channel: 'project:1', presence: null }] }]);
      expect(view('other')).toEqual([]);
      await ann.call('unsubscribe', { channel: 'project:1' });
      bob.close();
      await eventually(() => view('acme')?.length === 1, 2000, "bob's connection gone");
      expect(view('acme')).toEqual([{ user: 'ann', channels: [{ channel: 'project:2', presence: { state: JSON.stringify({ page: '/a' }) } }] }]);
      ann.close();
      eve.close();
      await eventually(() => view('acme')?.length === 0 && view('demo')?.length === 0, 2000, 'every connection gone');
    } finally {
      await s.close();
    }
  });
});
