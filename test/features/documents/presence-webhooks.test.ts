import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { RawClient } from '../../helpers/raw-client.js';
import { WebhookReceiver } from '../../helpers/webhook-receiver.js';
import { DOC_CAPS, type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * A user present in a document's channel only through a document provider (here a real
 * y-websocket provider over the documents endpoint) is a presence member like an SDK session:
 * the webhooks feature sends `presence.joined`, `presence.updated` and `presence.left` for it,
 * per user with devices aggregated, beside the SDK sessions of the same user. A real receiver
 * verifies each request; the grace ends when the test moves the server's clock past it and
 * polls the job runner, so "nothing within the grace" is checked after the grace's job ran.
 */

const GRACE = 3000;

describe.each(['sqlite', 'postgres'] as const)('presence webhooks of document providers on %s', (store) => {
  let s: DocumentsServer;
  const clock = new ManualClock();
  const pool = new ProviderPool(() => s);
  const receivers: WebhookReceiver[] = [];
  const clients: RawClient[] = [];
  let n = 0;
  const name = () => `doc:hooked-${++n}`;

  beforeAll(async () => {
    s = await startDocumentsServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], lifecycleGrace: `${GRACE}ms` },
    });
  });
  afterAll(async () => {
    pool.destroyAll();
    for (const c of clients.splice(0)) c.close();
    for (const r of receivers.splice(0)) await r.close();
    await s?.stop();
  });
  afterEach(async () => {
    pool.destroyAll();
    pool.open.splice(0);
    for (const c of clients.splice(0)) c.close();
    await eventually(async () => (await rows('sb_webhook_members')) === 0, WAIT, 'every member gone');
    await passGrace();
    for (const r of receivers.splice(0)) await r.close();
    const list = (await s.api('GET', '/webhooks/endpoints')).body['endpoints'] as Array<{ id: string }>;
    for (const e of list) await s.api('DELETE', `/webhooks/endpoints/${e.id}`);
  });

  // biome-ignore lint/suspicious/noExplicitAny: the tests read the feature's tables untyped
  const db = () => s.current.server.storage.db as any;
  const rows = async (table: string, where: Record<string, string> = {}): Promise<number> => {
    let q = db().selectFrom(table).select(db().fn.countAll().as('n'));
    for (const [k, v] of Object.entries(where)) q = q.where(k, '=', v);
    return Number((await q.executeTakeFirst()).n);
  };
  const graceJobs = async (status: string): Promise<number> =>
    Number(
      (await db().selectFrom('sb_jobs').select(db().fn.countAll().as('n')).where('kind', '=', 'webhooks.grace').where('status', '=', status).executeTakeFirst())
        .n,
    );
  /** Move past the grace and run the due grace jobs; resolves once they ran. */
  const passGrace = async () => {
    const done = await graceJobs('done');
    const pending = await graceJobs('pending');
    clock.advance(GRACE + 1);
    await s.current.server.jobs.poll();
    await eventually(async () => (await graceJobs('done')) >= done + pending, WAIT, 'the grace jobs ran');
  };
  const presenceRows = (channel: string) => rows('sb_webhook_members', { channel, kind: 'presence' });

  const hook = async (events: string[], channels: string[] = ['doc:*']) => {
    const r = await WebhookReceiver.start();
    receivers.push(r);
    const res = await s.api('POST', '/webhooks/endpoints', { body: { url: r.url, events, channels } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    r.secret = res.body['secret'] as string;
    return r;
  };
  /** Verified deliveries of a type, each webhook id once (a second delivery of an id fails the test). */
  const got = (r: WebhookReceiver, type: string) => {
    const list = r.events(type);
    expect(new Set(list.map((x) => x.id)).size, `${type}: a webhook id twice`).toBe(list.length);
    expect(list.every((x) => x.verified !== null)).toBe(true);
    return list.map((x) => x.verified?.data as Record<string, unknown>);
  };
  /** An SDK session of `user` on the document's channel, present with `state`. */
  const session = async (user: string, doc: string, state: unknown) => {
    const c = await RawClient.connect(s.current.url, await s.current.token({ sub: user, caps: DOC_CAPS }));
    clients.push(c);
    for (const [method, params] of [
      ['subscribe', { channel: doc }],
      ['presence_set', { channel: doc, state }],
    ] as const) {
      const reply = await c.call(method, params);
      expect(reply.error, JSON.stringify(reply.error)).toBeUndefined();
    }
    return c;
  };
  type Device = { connectionId: string; state: unknown };
  const devicesOf = (data: Record<string, unknown> | undefined) => (data?.['devices'] ?? []) as Device[];

  it('a provider user: joined with its device on its first awareness state, updated as the state changes, left after the grace once it disconnects', async () => {
    const r = await hook(['presence.*']);
    const doc = name();
    const ada = await pool.provider(doc, 'ada');
    ada.provider.awareness.setLocalState({ user: { name: 'Ada' }, cursor: 1 });
    await eventually(() => got(r, 'presence.joined').length === 1, WAIT, 'joined');
    const joined = got(r, 'presence.joined')[0];
    expect(joined).toMatchObject({ channel: doc, user: 'ada' });
    expect(devicesOf(joined)).toEqual([{ connectionId: expect.any(String), state: { awareness: { user: { name: 'Ada' }, cursor: 1 } } }]);

    ada.provider.awareness.setLocalStateField('cursor', 7);
    await eventually(() => got(r, 'presence.updated').length === 1, WAIT, 'updated');
    const updated = got(r, 'presence.updated')[0];
    expect(updated).toMatchObject({ channel: doc, user: 'ada' });
    expect(devicesOf(updated)).toEqual([{ connectionId: devicesOf(joined)[0]?.connectionId, state: { awareness: { user: { name: 'Ada' }, cursor: 7 } } }]);

    ada.destroy();
    await eventually(async () => (await presenceRows(doc)) === 0 && (await graceJobs('pending')) === 1, WAIT, 'the grace running');
    expect(got(r, 'presence.left')).toEqual([]);
    await passGrace();
    await eventually(() => got(r, 'presence.left').length === 1, WAIT, 'left');
    expect(got(r, 'presence.left')).toEqual([{ channel: doc, user: 'ada' }]);
    expect(got(r, 'presence.joined')).toHaveLength(1);
    expect(got(r, 'presence.updated')).toHaveLength(1);
  });

  it('a page refresh within the grace sends nothing: the new provider with the same state is the same presence', async () => {
    const r = await hook(['presence.*']);
    const doc = name();
    const first = await pool.provider(doc, 'bea');
    first.provider.awareness.setLocalState({ user: { name: 'Bea' } });
    await eventually(() => got(r, 'presence.joined').length === 1, WAIT, 'joined');
    first.destroy();
    await eventually(async () => (await presenceRows(doc)) === 0 && (await graceJobs('pending')) === 1, WAIT, 'the grace running');
    const again = await pool.provider(doc, 'bea');
    again.provider.awareness.setLocalState({ user: { name: 'Bea' } });
    await eventually(async () => (await presenceRows(doc)) === 1, WAIT, 'back');
    await passGrace();
    // The grace's job ran and decided nothing; nothing else was sent meanwhile.
    expect(r.received.map((x) => x.verified?.type)).toEqual(['presence.joined']);
    again.destroy();
    await eventually(async () => (await presenceRows(doc)) === 0 && (await graceJobs('pending')) === 1, WAIT, 'gone');
    await passGrace();
    await eventually(() => got(r, 'presence.left').length === 1, WAIT, 'left');
    expect(r.received.map((x) => x.verified?.type)).toEqual(['presence.joined', 'presence.left']);
  });

  it('a user present by an SDK session and by a provider in the same channel: joined once, left only when both are gone', async () => {
    const r = await hook(['presence.*']);
    const doc = name();
    const sdk = await session('cid', doc, { page: 'editor' });
    await eventually(() => got(r, 'presence.joined').length === 1, WAIT, 'joined by the session');
    expect(devicesOf(got(r, 'presence.joined')[0])).toEqual([{ connectionId: expect.any(String), state: { page: 'editor' } }]);

    const provider = await pool.provider(doc, 'cid');
    provider.provider.awareness.setLocalState({ user: { name: 'Cid' } });
    await eventually(() => got(r, 'presence.updated').length === 1, WAIT, 'the provider is a second device');
    expect(
      devicesOf(got(r, 'presence.updated')[0])
        .map((d) => d.state)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([{ awareness: { user: { name: 'Cid' } } }, { page: 'editor' }]);

    // The session goes: the provider stays, so no left, only the devices' change.
    sdk.close();
    await eventually(() => got(r, 'presence.updated').length === 2, WAIT, 'the session left');
    expect(devicesOf(got(r, 'presence.updated')[1])).toEqual([{ connectionId: expect.any(String), state: { awareness: { user: { name: 'Cid' } } } }]);
    expect(await graceJobs('pending')).toBe(0);
    await passGrace();
    expect(got(r, 'presence.left')).toEqual([]);

    // The provider goes too: left after the grace.
    provider.destroy();
    await eventually(async () => (await presenceRows(doc)) === 0 && (await graceJobs('pending')) === 1, WAIT, 'both gone');
    await passGrace();
    await eventually(() => got(r, 'presence.left').length === 1, WAIT, 'left');
    expect(got(r, 'presence.joined')).toHaveLength(1);
    expect(got(r, 'presence.left')).toEqual([{ channel: doc, user: 'cid' }]);
  });

  it('the other way round: joined by the provider, the session adds a device, left once after both', async () => {
    const r = await hook(['presence.*']);
    const doc = name();
    const provider = await pool.provider(doc, 'dan');
    provider.provider.awareness.setLocalState({ user: { name: 'Dan' } });
    await eventually(() => got(r, 'presence.joined').length === 1, WAIT, 'joined by the provider');
    const sdk = await session('dan', doc, { page: 'editor' });
    await eventually(() => got(r, 'presence.updated').length === 1, WAIT, 'the session is a second device');
    provider.destroy();
    await eventually(() => got(r, 'presence.updated').length === 2, WAIT, 'the provider left');
    expect(devicesOf(got(r, 'presence.updated')[1])).toEqual([{ connectionId: expect.any(String), state: { page: 'editor' } }]);
    sdk.close();
    await eventually(async () => (await presenceRows(doc)) === 0 && (await graceJobs('pending')) === 1, WAIT, 'both gone');
    await passGrace();
    await eventually(() => got(r, 'presence.left').length === 1, WAIT, 'left');
    expect(got(r, 'presence.joined')).toHaveLength(1);
  });

  it('a provider present before the endpoint is recorded when the endpoint comes: no joined for it, no left while it stays, one left after it goes', async () => {
    const doc = name();
    const fay = await pool.provider(doc, 'fay');
    fay.provider.awareness.setLocalState({ user: { name: 'Fay' } });
    const node = s.current.server.node;
    await eventually(async () => (await node.presence(node.resolve('acme', doc))).length === 1, WAIT, 'the provider present');
    const r = await hook(['presence.*']);
    await eventually(async () => (await presenceRows(doc)) === 1, WAIT, 'the older member recorded');
    // The user's session comes and goes: a device more, then less; never joined nor left.
    const sdk = await session('fay', doc, { page: 'editor' });
    await eventually(() => got(r, 'presence.updated').length === 1, WAIT, 'a second device');
    sdk.close();
    await eventually(() => got(r, 'presence.updated').length === 2, WAIT, 'back to one');
    await passGrace();
    expect(got(r, 'presence.joined')).toEqual([]);
    expect(got(r, 'presence.left')).toEqual([]);
    fay.destroy();
    await eventually(async () => (await presenceRows(doc)) === 0 && (await graceJobs('pending')) === 1, WAIT, 'gone');
    await passGrace();
    await eventually(() => got(r, 'presence.left').length === 1, WAIT, 'left');
    expect(got(r, 'presence.left')).toEqual([{ channel: doc, user: 'fay' }]);
    expect(got(r, 'presence.joined')).toEqual([]);
  });

  it('a provider connection opens and closes no connection: connection.opened and connection.closed are SDK sessions only', async () => {
    const r = await hook(['connection.opened', 'connection.closed', 'presence.joined'], []);
    const doc = name();
    const eve = await pool.provider(doc, 'eve');
    eve.provider.awareness.setLocalState({ user: { name: 'Eve' } });
    await eventually(() => got(r, 'presence.joined').length === 1, WAIT, 'joined');
    eve.destroy();
    await eventually(async () => (await presenceRows(doc)) === 0, WAIT, 'gone');
    // A session's close, after the provider's: it is the only connection event.
    const c = await RawClient.connect(s.current.url, await s.current.token({ sub: 'eve', caps: DOC_CAPS }));
    c.close();
    await eventually(() => got(r, 'connection.closed').length === 1, WAIT, "the session's closed");
    expect(got(r, 'connection.opened')).toHaveLength(1);
    expect(await rows('sb_webhook_connections')).toBe(0);
  });
});
