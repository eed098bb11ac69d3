import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { RawClient } from '../helpers/raw-client.js';
import { RawClient as Raw } from '../helpers/raw-client.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/**
 * Members older than the endpoint that wants their lifecycle events, on both stores, over
 * real WebSockets and a real receiver: when the endpoint is created (or PATCHed to want the
 * types) the node records what it holds, silently, so no `vacated` / `left` is decided while
 * one of them stays, and the events after that are exact. The server's clock is the test's:
 * a grace ends when the test moves the clock past it and polls the job runner.
 */

const GRACE = 3000;
const ALL = ['channel.*', 'presence.*', 'connection.closed'];

describe.each(STORES)('lifecycle webhooks for members older than the endpoint on %s', (store) => {
  let s: DurableServer;
  const clock = new ManualClock();
  const receivers: WebhookReceiver[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    s = await startDurableServer(store, {
      now: clock.now,
      jobs: { pollInterval: '1h' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], lifecycleGrace: `${GRACE}ms` },
    });
  });
  afterAll(async () => {
    await s?.stop();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await eventually(async () => (await rows('sb_webhook_members')) === 0 && (await rows('sb_webhook_connections')) === 0, 10_000, 'the closes recorded');
    await passGrace();
    for (const r of receivers.splice(0)) await r.close();
    const key = s.tenantKeys['acme'];
    const list = (await s.api('GET', '/webhooks/endpoints', { key })).body['endpoints'] as Array<{ id: string }>;
    for (const e of list) await s.api('DELETE', `/webhooks/endpoints/${e.id}`, { key });
  });

  // biome-ignore lint/suspicious/noExplicitAny: the tests read the feature's tables untyped
  const db = () => s.server.storage.db as any;
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
  const members = (channel: string, kind: string) => rows('sb_webhook_members', { channel, kind });

  const receiver = async () => {
    const r = await WebhookReceiver.start();
    receivers.push(r);
    return r;
  };
  const hook = async (r: WebhookReceiver, events: string[]) => {
    const res = await s.api('POST', '/webhooks/endpoints', { key: s.tenantKeys['acme'], body: { url: r.url, events, channels: ['project:*'] } });
    expect(res.status, res.text).toBe(201);
    r.secret = res.body['secret'] as string;
    return res.body['id'] as string;
  };
  const connect = async (user: string) => {
    const c = await Raw.connect(s.url, await s.token({ sub: user, tenant: 'acme' }));
    clients.push(c);
    return c;
  };
  const ok = async (c: RawClient, method: string, params: Record<string, unknown>) => {
    const reply = await c.call(method, params);
    expect(reply.error, JSON.stringify(reply.error)).toBeUndefined();
  };
  /** Verified deliveries of a type for a channel, each webhook id once. */
  const got = (r: WebhookReceiver, type: string, channel?: string) => {
    const list = r.events(type).filter((x) => channel === undefined || x.verified?.data['channel'] === channel);
    expect(new Set(list.map((x) => x.id)).size, `${type}: a webhook id twice`).toBe(list.length);
    return list.map((x) => x.verified?.data as Record<string, unknown>);
  };
  /** Move past the grace and run the due grace jobs; resolves once they ran. */
  const passGrace = async () => {
    const done = await graceJobs('done');
    const pending = await graceJobs('pending');
    clock.advance(GRACE + 1);
    await s.server.jobs.poll();
    await eventually(async () => (await graceJobs('done')) >= done + pending, 10_000, 'the grace jobs ran');
  };
  /**
   * Wait until the node wants the events: a probe channel's `occupied` comes back (the backfill
   * ran in the same turn). The probe then leaves and its grace is run, so the counts of rows and
   * grace jobs the test reads next are the scenario's alone.
   */
  const probe = async (r: WebhookReceiver) => {
    const c = await connect('probe');
    await ok(c, 'subscribe', { channel: 'project:probe' });
    await eventually(() => got(r, 'channel.occupied', 'project:probe').length === 1, 10_000, 'the endpoint known');
    c.close();
    await eventually(
      async () => (await rows('sb_webhook_members', { channel: 'project:probe' })) === 0 && (await rows('sb_webhook_connections', { user_id: 'probe' })) === 0,
      10_000,
      'the probe gone',
    );
    await passGrace();
    await eventually(() => got(r, 'channel.vacated', 'project:probe').length === 1, 10_000, 'the probe channel vacated');
    clients.splice(clients.indexOf(c), 1);
  };

  it('a channel occupied before the endpoint: no occupied or vacated while an older member stays; vacated and left once after it leaves', async () => {
    const old = await connect('ann');
    await ok(old, 'subscribe', { channel: 'project:b1' });
    await ok(old, 'presence_set', { channel: 'project:b1', state: { page: 'old' } });
    expect(await rows('sb_webhook_members')).toBe(0);
    const r = await receiver();
    await hook(r, ALL);
    await probe(r);

    // A newcomer comes and goes; so does a second device of the older member's user.
    const newcomer = await connect('bob');
    const device = await connect('ann');
    await ok(newcomer, 'subscribe', { channel: 'project:b1' });
    await ok(newcomer, 'presence_set', { channel: 'project:b1', state: { page: 'new' } });
    await ok(device, 'subscribe', { channel: 'project:b1' });
    await ok(device, 'presence_set', { channel: 'project:b1', state: { page: 'device' } });
    const presenceEvents = () => r.events().filter((x) => x.verified?.type.startsWith('presence.') && x.verified.data['channel'] === 'project:b1');
    await eventually(() => presenceEvents().length === 2, 10_000, 'two presence events');
    newcomer.close();
    device.close();
    // Each connection's leaves are decided before its `connection.closed`.
    await eventually(() => got(r, 'connection.closed').filter((d) => d['user'] !== 'probe').length === 2, 10_000, 'both closed');
    await passGrace();
    await eventually(() => got(r, 'presence.left', 'project:b1').length > 0, 10_000, "bob's left");
    // The older member stays: nothing vacated, ann still present; bob left after his grace.
    expect(got(r, 'channel.vacated', 'project:b1')).toEqual([]);
    expect(got(r, 'channel.occupied', 'project:b1')).toEqual([]);
    expect(await members('project:b1', 'sub')).toBe(1);
    expect(got(r, 'presence.left', 'project:b1')).toEqual([{ channel: 'project:b1', user: 'bob' }]);
    expect(got(r, 'presence.joined', 'project:b1')).toEqual([
      { channel: 'project:b1', user: 'bob', devices: [{ connectionId: expect.any(String), state: { page: 'new' } }] },
    ]);
    // ann's second device joined and left as updates, listing the older device.
    const updates = got(r, 'presence.updated', 'project:b1').map((d) => (d['devices'] as Array<{ state: { page: string } }>).map((x) => x.state.page).sort());
    expect(updates).toEqual([['device', 'old'], ['old']]);

    // The older member leaves: vacated and left once, after the grace.
    old.close();
    await eventually(() => got(r, 'connection.closed').filter((d) => d['user'] === 'ann').length === 2, 10_000, "ann's closed");
    await eventually(async () => (await members('project:b1', 'sub')) === 0 && (await graceJobs('pending')) === 2, 10_000, 'empty, the graces running');
    expect(got(r, 'channel.vacated', 'project:b1')).toEqual([]);
    await passGrace();
    await eventually(() => got(r, 'channel.vacated', 'project:b1').length === 1 && got(r, 'presence.left', 'project:b1').length === 2, 10_000, 'vacated, left');
    expect(got(r, 'channel.vacated', 'project:b1')).toEqual([{ channel: 'project:b1' }]);
    expect(got(r, 'presence.left', 'project:b1')).toEqual([
      { channel: 'project:b1', user: 'bob' },
      { channel: 'project:b1', user: 'ann' },
    ]);
    expect(got(r, 'channel.occupied', 'project:b1')).toEqual([]);
    expect(got(r, 'presence.joined', 'project:b1')).toHaveLength(1);
    expect(await rows('sb_webhook_occupancy', { channel: 'project:b1' })).toBe(0);
    expect(r.received.every((x) => x.verified !== null)).toBe(true);
  });

  it('an endpoint PATCHed to want the types, twice, and a second endpoint: the older members recorded once, nothing invented', async () => {
    const old = await connect('ann');
    await ok(old, 'subscribe', { channel: 'project:b2' });
    await ok(old, 'presence_set', { channel: 'project:b2', state: { page: 'old' } });
    const r = await receiver();
    const id = await hook(r, ['connection.opened']);
    expect(await rows('sb_webhook_members')).toBe(0);
    for (let i = 0; i < 2; i++) {
      const res = await s.api('PATCH', `/webhooks/endpoints/${id}`, { key: s.tenantKeys['acme'], body: { events: ALL } });
      expect(res.status, res.text).toBe(200);
    }
    const other = await receiver();
    await hook(other, ['channel.*']);
    await probe(r);
    await eventually(async () => (await members('project:b2', 'sub')) === 1 && (await members('project:b2', 'presence')) === 1, 10_000, 'the older members');
    expect(await rows('sb_webhook_connections', { user_id: 'ann' })).toBe(1);
    expect(await rows('sb_webhook_occupancy', { channel: 'project:b2' })).toBe(2);
    expect(await graceJobs('pending')).toBe(0);
    // Its state set again with the same value changes nothing; another value is an update.
    await ok(old, 'presence_set', { channel: 'project:b2', state: { page: 'old' } });
    await ok(old, 'presence_set', { channel: 'project:b2', state: { page: 'moved' } });
    await eventually(() => got(r, 'presence.updated', 'project:b2').length === 1, 10_000, 'updated');
    expect(got(r, 'presence.updated', 'project:b2')[0]?.['devices']).toEqual([{ connectionId: expect.any(String), state: { page: 'moved' } }]);
    old.close();
    await eventually(() => got(r, 'connection.closed').some((d) => d['user'] === 'ann'), 10_000, "ann's closed");
    await passGrace();
    await eventually(
      () =>
        got(r, 'channel.vacated', 'project:b2').length === 1 &&
        got(other, 'channel.vacated', 'project:b2').length === 1 &&
        got(r, 'presence.left', 'project:b2').length === 1,
      5000,
      'vacated, left',
    );
    expect(got(r, 'presence.left', 'project:b2')).toEqual([{ channel: 'project:b2', user: 'ann' }]);
    for (const x of [r, other]) expect(got(x, 'channel.occupied', 'project:b2')).toEqual([]);
    expect(got(r, 'presence.joined', 'project:b2')).toEqual([]);
  });

  it('members leaving while the endpoint is created: each channel vacated at most once, no row left behind', async () => {
    const CHANNELS = 8;
    const olds = await Promise.all(Array.from({ length: CHANNELS }, (_, i) => connect(`old-${i}`)));
    for (const [i, c] of olds.entries()) await ok(c, 'subscribe', { channel: `project:race-${i}` });
    const r = await receiver();
    // Each leaves at another moment around the endpoint's creation and the node's backfill.
    const created = hook(r, ALL);
    await Promise.all(
      olds.map(async (c, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 3));
        await ok(c, 'unsubscribe', { channel: `project:race-${i}` });
      }),
    );
    await created;
    await probe(r);
    for (const c of olds) c.close();
    await eventually(async () => (await rows('sb_webhook_members')) === 0 && (await rows('sb_webhook_connections')) === 0, 10_000, 'every row gone');
    await passGrace();
    await eventually(async () => (await graceJobs('pending')) === 0, 10_000, 'no grace left');
    for (let i = 0; i < CHANNELS; i++) {
      expect(got(r, 'channel.vacated', `project:race-${i}`).length).toBeLessThanOrEqual(1);
      expect(got(r, 'channel.occupied', `project:race-${i}`)).toEqual([]);
      expect(await rows('sb_webhook_occupancy', { channel: `project:race-${i}` })).toBe(0);
    }
  });
});
