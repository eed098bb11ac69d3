import type { ClientOptions, PublicationEvent, SwitchboardClient } from '@switchboard/client';
import { describe, expect, it } from 'vitest';
import { useRealServer } from '../packages/client/test/real-server.js';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';

const { server, client } = useRealServer();

async function connected(sub: string, options: ClientOptions = {}): Promise<SwitchboardClient> {
  const c = client({ sub }, options);
  const ready = waitFor(c, 'connected');
  c.connect();
  await ready;
  return c;
}

/** Close every connection of a user through the HTTP API, as an operator would. */
async function disconnectUser(user: string, code?: number): Promise<void> {
  const res = await fetch(`${server().httpUrl}/api/v1/users/${user}/disconnect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server().apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
    body: JSON.stringify(code === undefined ? {} : { code }),
  });
  expect(res.status).toBe(200);
}

describe('client SDK against the real server: connection', () => {
  it('stays disconnected after an operator disconnect (3502), without reconnecting', async () => {
    const gina = await connected('gina', { backoff: { minDelay: 20, maxDelay: 100 } });
    const reconnects: number[] = [];
    gina.on('reconnecting', (e) => reconnects.push(e.delay));
    const down = waitFor(gina, 'disconnected');
    await disconnectUser('gina');
    expect(await down).toEqual({ code: 3502, reason: 'disconnected by server' });
    // Had it been retried, a reconnect would be scheduled synchronously with the close.
    expect(reconnects).toEqual([]);
    expect(gina.state).toBe('disconnected');
  });
});

describe('client SDK against the real server: channels', () => {
  it('delivers a publication from one client to another subscribed client', async () => {
    const alice = await connected('alice');
    const bob = await connected('bob');
    const sub = alice.subscribe<{ text: string }>('project:pubsub');
    await waitFor(sub, 'subscribed');
    const received = waitFor(sub, 'publication');
    const result = await bob.publish('project:pubsub', { text: 'hello' });
    const publication: PublicationEvent<{ text: string }> = await received;
    expect(publication).toMatchObject({ channel: 'project:pubsub', offset: result.offset, data: { text: 'hello' } });
    expect(publication.info?.user).toBe('bob');
    expect(alice.session?.user).toBe('alice');
  });

  it('reads history and rejects a publish the namespace forbids with a typed error', async () => {
    const alice = await connected('alice');
    const sub = alice.subscribe<number>('project:history');
    for (const n of [1, 2, 3]) await sub.publish(n);
    const page = await sub.history({ limit: 2, reverse: true });
    expect(page.publications.map((p) => p.data)).toEqual([3, 2]);
    await expect(alice.publish('system', 'x')).rejects.toMatchObject({ name: 'SwitchboardError', code: 108, temporary: false });
  });

  it('ends a subscription the token does not allow, with the server error code', async () => {
    const alice = await connected('alice', {
      getToken: () => server().token({ sub: 'alice', caps: { 'project:open': ['subscribe'] } }),
    });
    const open = alice.subscribe('project:open');
    const closed = alice.subscribe('project:closed');
    const errors: number[] = [];
    closed.on('error', (e) => errors.push(e.error.code));
    const ended = await waitFor(closed, 'unsubscribed');
    await waitUntil(open, 'subscribed', () => open.state === 'subscribed');
    expect(ended.code).toBe(103);
    expect(errors).toEqual([103]);
    expect(alice.getSubscription('project:closed')).toBeUndefined();
  });

  it('relays signals to the other subscribers', async () => {
    const alice = await connected('alice');
    const bob = await connected('bob');
    const a = alice.subscribe('project:signals');
    const b = bob.subscribe('project:signals');
    await Promise.all([waitFor(a, 'subscribed'), waitFor(b, 'subscribed')]);
    const got = waitFor(a, 'signal');
    b.signal('typing', true);
    expect(await got).toMatchObject({ channel: 'project:signals', key: 'typing', data: true, from: { user: 'bob' } });
  });
});

describe('client SDK against the real server: presence', () => {
  it('shows one user with two connections as one member with two devices', async () => {
    const laptop = await connected('carol');
    const phone = await connected('carol');
    const observer = await connected('dave');
    const watch = observer.subscribe<unknown, { device: string }>('project:presence');
    await waitFor(watch, 'subscribed');
    const joins: string[] = [];
    watch.on('join', (e) => joins.push(`${e.user}/${e.device.state?.device}`));

    const a = laptop.subscribe<unknown, { device: string }>('project:presence');
    const b = phone.subscribe<unknown, { device: string }>('project:presence');
    await Promise.all([a.enterPresence({ device: 'laptop' }), b.enterPresence({ device: 'phone' })]);
    await waitUntil(watch, 'join', () => joins.length === 2);

    const members = await watch.presence();
    expect(members).toHaveLength(1);
    expect(members[0]!.user).toBe('carol');
    expect(members[0]!.devices.map((d) => d.state?.device).sort()).toEqual(['laptop', 'phone']);
    expect(await watch.presenceStats()).toEqual({ users: 1, connections: 2 });
    expect(joins.sort()).toEqual(['carol/laptop', 'carol/phone']);

    const left = waitFor(watch, 'leave');
    await b.leavePresence();
    expect((await left).device.state?.device).toBe('phone');
    expect(await watch.presenceStats()).toEqual({ users: 1, connections: 1 });
  });

  it('re-enters presence after a reconnect', async () => {
    const erin = await connected('erin', { backoff: { minDelay: 20, maxDelay: 200 } });
    const observer = await connected('frank');
    const watch = observer.subscribe('project:presence-again');
    const sub = erin.subscribe<unknown, { page: string }>('project:presence-again');
    await sub.enterPresence({ page: '/a' });
    await waitUntil(watch, 'state', () => watch.state === 'subscribed');
    expect((await watch.presence()).map((m) => m.user)).toEqual(['erin']);

    // Close erin's socket from the server side: the server drops her presence, the SDK restores it.
    const rejoined = waitFor(watch, 'join', (e) => e.user === 'erin');
    await disconnectUser('erin', 3008);
    await rejoined;
    expect((await watch.presence())[0]!.devices[0]!.state).toEqual({ page: '/a' });
  });
});
