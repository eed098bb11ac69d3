import { type Publication, type Subscription, SwitchboardClient, type SwitchboardError } from '@switchboard/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The SDK and server-side subscriptions: a channel the server subscribes the client to (the
 * token's `subs`, the HTTP API) appears as a `subscription` event with a live Subscription;
 * across a reconnect the SDK names its position in `connect` and gets the missed
 * publications back exactly once; a refusal is an `error` event.
 */

let s: TestServer;
const clients: SwitchboardClient[] = [];
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await s.close();
});

async function post(path: string, body: unknown): Promise<number> {
  const res = await fetch(`${s.httpUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.status;
}

function client(sub: string, subs?: string[]): { client: SwitchboardClient; received: Map<string, unknown[]>; subscriptions: Subscription[] } {
  const c = new SwitchboardClient(s.url, { getToken: () => s.token({ sub, ...(subs ? { subs } : {}) }), WebSocket });
  clients.push(c);
  const received = new Map<string, unknown[]>();
  const subscriptions: Subscription[] = [];
  c.on('subscription', ({ channel, subscription }) => {
    subscriptions.push(subscription);
    received.set(channel, []);
    subscription.on('publication', (p: Publication) => received.get(channel)?.push(p.data));
  });
  c.connect();
  return { client: c, received, subscriptions };
}

describe('the SDK with server-side subscriptions', () => {
  it("delivers the token's channels through a subscription event, and recovers them across a reconnect", async () => {
    const { client: c, received, subscriptions } = client('sdk-ann', ['project:sdk-feed']);
    await vi.waitFor(() => expect(subscriptions.map((x) => [x.channel, x.state])).toEqual([['project:sdk-feed', 'subscribed']]));
    expect(c.getSubscription('project:sdk-feed')).toBe(subscriptions[0]);
    expect(await post('/publish', { channel: 'project:sdk-feed', data: 1 })).toBe(200);
    await vi.waitFor(() => expect(received.get('project:sdk-feed')).toEqual([1]));
    // The server closes with a reconnect code; publications meanwhile must come back once.
    const subscribed: Array<{ recovered: boolean; wasRecovering: boolean }> = [];
    subscriptions[0]?.on('subscribed', (e) => subscribed.push({ recovered: e.recovered, wasRecovering: e.wasRecovering }));
    const down = new Promise((r) => c.once('connecting', r));
    expect(await post('/users/sdk-ann/disconnect', { code: 3008 })).toBe(200);
    await down;
    for (const n of [2, 3]) expect(await post('/publish', { channel: 'project:sdk-feed', data: n })).toBe(200);
    await vi.waitFor(() => expect(received.get('project:sdk-feed')).toEqual([1, 2, 3]), { timeout: 10_000 });
    expect(subscribed).toEqual([{ recovered: true, wasRecovering: true }]);
    // Still one subscription object, no second announcement.
    expect(subscriptions).toHaveLength(1);
  });

  it('announces a channel subscribed from the backend, and reports a refused one as an error event', async () => {
    const { client: c, received, subscriptions } = client('sdk-bea');
    await new Promise((r) => c.once('connected', r));
    const errors: Array<{ channel?: string; code: number }> = [];
    c.on('error', (e) => {
      if (e.during === 'subscribe') errors.push({ channel: e.channel, code: (e.error as SwitchboardError).code });
    });
    expect(await post('/users/sdk-bea/subscribe', { channel: 'chat:sdk-room' })).toBe(200);
    await vi.waitFor(() => expect(subscriptions.map((x) => x.channel)).toEqual(['chat:sdk-room']));
    expect(await post('/publish', { channel: 'chat:sdk-room', data: 'hi' })).toBe(200);
    await vi.waitFor(() => expect(received.get('chat:sdk-room')).toEqual(['hi']));
    expect(await post('/users/sdk-bea/subscribe', { channel: 'analytics:nope' })).toBe(200);
    await vi.waitFor(() => expect(errors).toEqual([{ channel: 'analytics:nope', code: 103 }]));
    // The app may leave a server-side subscription like any other.
    subscriptions[0]?.unsubscribe();
    await vi.waitFor(() => expect(c.getSubscription('chat:sdk-room')).toBeUndefined());
  });
});
