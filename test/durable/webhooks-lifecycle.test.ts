import { DisconnectCode } from '@switchboard/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { RawClient } from '../helpers/raw-client.js';
import { RawClient as Raw } from '../helpers/raw-client.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/**
 * The lifecycle events on both stores, over real WebSockets and a real receiver verifying
 * each request with `standardwebhooks`. The server's clock is the test's: a grace ends when
 * the test moves the clock past it and polls the job runner, so "nothing within the grace"
 * is checked after the grace's job ran, not by sleeping.
 */

const GRACE = 3000;
const LIFECYCLE_TABLES = ['sb_webhook_members', 'sb_webhook_occupancy', 'sb_webhook_connections'] as const;

describe.each(STORES)('lifecycle webhooks on %s', (store) => {
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
    // Every test starts with no member, no open connection and no grace running.
    await eventually(async () => (await rows('sb_webhook_members')) === 0 && (await rows('sb_webhook_connections')) === 0, 5000, 'the closes recorded');
    await passGrace();
    for (const r of receivers.splice(0)) await r.close();
    for (const tenant of ['acme', 'demo']) {
      const key = s.tenantKeys[tenant];
      const list = (await s.api('GET', '/webhooks/endpoints', { key })).body['endpoints'] as Array<{ id: string }>;
      for (const e of list) await s.api('DELETE', `/webhooks/endpoints/${e.id}`, { key });
    }
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

  const hook = async (events: string[], channels: string[] = ['project:*'], tenant = 'acme') => {
    const r = await WebhookReceiver.start();
    receivers.push(r);
    const res = await s.api('POST', '/webhooks/endpoints', { key: s.tenantKeys[tenant], body: { url: r.url, events, channels } });
    expect(res.status, res.text).toBe(201);
    r.secret = res.body['secret'] as string;
    return r;
  };
  const connect = async (user: string, tenant = 'acme') => {
    const c = await Raw.connect(s.url, await s.token({ sub: user, tenant }));
    clients.push(c);
    return c;
  };
  const ok = async (c: RawClient, method: string, params: Record<string, unknown>) => {
    const reply = await c.call(method, params);
    expect(reply.error, JSON.stringify(reply.error)).toBeUndefined();
  };
  /** Verified deliveries of a type, each webhook id once (a second delivery of an id fails the test). */
  const got = (r: WebhookReceiver, type: string) => {
    const list = r.events(type);
    expect(new Set(list.map((x) => x.id)).size, `${type}: a webhook id twice`).toBe(list.length);
    return list.map((x) => x.verified?.data as Record<string, unknown>);
  };
  /** Move past the grace and run the due grace jobs; resolves once they ran. */
  const passGrace = async () => {
    const done = await graceJobs('done');
    const pending = await graceJobs('pending');
    clock.advance(GRACE + 1);
    await s.server.jobs.poll();
    await eventually(async () => (await graceJobs('done')) >= done + pending, 5000, 'the grace jobs ran');
  };
  const members = (channel: string, kind: string) => rows('sb_webhook_members', { channel, kind });

  it('channel.occupied once on the first subscriber; no vacated when a new one comes within the grace; vacated once after it', async () => {
    const r = await hook(['channel.*']);
    const a = await connect('ann');
    const b = await connect('bob');
    await ok(a, 'subscribe', { channel: 'project:c1' });
    await eventually(() => got(r, 'channel.occupied').length === 1, 5000, 'occupied');
    await ok(b, 'subscribe', { channel: 'project:c1' });
    await eventually(async () => (await members('project:c1', 'sub')) === 2, 5000, 'two members');
    await ok(a, 'unsubscribe', { channel: 'project:c1' });
    b.close();
    await eventually(async () => (await members('project:c1', 'sub')) === 0 && (await graceJobs('pending')) === 1, 5000, 'empty, the grace running');
    // A page refresh: a member back within the grace.
    const c = await connect('cat');
    await ok(c, 'subscribe', { channel: 'project:c1' });
    await eventually(async () => (await members('project:c1', 'sub')) === 1, 5000, 'a member back');
    await passGrace();
    expect(got(r, 'channel.vacated')).toEqual([]);
    c.close();
    await eventually(async () => (await members('project:c1', 'sub')) === 0 && (await graceJobs('pending')) === 1, 5000, 'empty again');
    // Not before the grace is over.
    clock.advance(GRACE - 500);
    await s.server.jobs.poll();
    expect(await graceJobs('pending')).toBe(1);
    await passGrace();
    await eventually(() => got(r, 'channel.vacated').length === 1, 5000, 'vacated');
    expect(got(r, 'channel.occupied')).toEqual([{ channel: 'project:c1' }]);
    expect(got(r, 'channel.vacated')).toEqual([{ channel: 'project:c1' }]);
    expect(await rows('sb_webhook_occupancy', { channel: 'project:c1' })).toBe(0);
    // Occupied again from scratch.
    const d = await connect('dan');
    await ok(d, 'subscribe', { channel: 'project:c1' });
    await eventually(() => got(r, 'channel.occupied').length === 2, 5000, 'occupied again');
    expect(r.received.every((x) => x.verified !== null)).toBe(true);
  });

  it('presence.joined on the first device, presence.updated as devices and states change, presence.left after the last one’s grace', async () => {
    const r = await hook(['presence.*']);
    const d1 = await connect('ann');
    const d2 = await connect('ann');
    await ok(d1, 'subscribe', { channel: 'project:p1' });
    await ok(d2, 'subscribe', { channel: 'project:p1' });
    await ok(d1, 'presence_set', { channel: 'project:p1', state: { page: 'a' } });
    await eventually(() => got(r, 'presence.joined').length === 1, 5000, 'joined');
    const id1 = (got(r, 'presence.joined')[0]?.['devices'] as Array<{ connectionId: string }>)[0]?.connectionId;
    expect(got(r, 'presence.joined')).toEqual([{ channel: 'project:p1', user: 'ann', devices: [{ connectionId: id1, state: { page: 'a' } }] }]);
    await ok(d2, 'presence_set', { channel: 'project:p1', state: { page: 'b' } });
    await eventually(() => got(r, 'presence.updated').length === 1, 5000, 'the second device');
    // Devices that joined in the same millisecond (the test's clock stands still) come in connection id order.
    const devices = got(r, 'presence.updated')[0]?.['devices'] as Array<{ connectionId: string; state: { page: string } }>;
    expect(devices.sort((x, y) => x.state.page.localeCompare(y.state.page))).toEqual([
      { connectionId: id1, state: { page: 'a' } },
      { connectionId: expect.any(String), state: { page: 'b' } },
    ]);
    await ok(d2, 'presence_set', { channel: 'project:p1', state: { page: 'c' } });
    await eventually(() => got(r, 'presence.updated').length === 2, 5000, 'a new state');
    // The same state again changes nothing.
    await ok(d2, 'presence_set', { channel: 'project:p1', state: { page: 'c' } });
    d1.close();
    await eventually(() => got(r, 'presence.updated').length === 3, 5000, 'a device left');
    expect(got(r, 'presence.updated')[2]?.['devices']).toEqual([{ connectionId: expect.any(String), state: { page: 'c' } }]);
    // The last device refreshes: back within the grace with the same state, nothing is sent.
    d2.close();
    await eventually(async () => (await members('project:p1', 'presence')) === 0 && (await graceJobs('pending')) === 1, 5000, 'the grace running');
    const d3 = await connect('ann');
    await ok(d3, 'subscribe', { channel: 'project:p1' });
    await ok(d3, 'presence_set', { channel: 'project:p1', state: { page: 'c' } });
    await eventually(async () => (await members('project:p1', 'presence')) === 1, 5000, 'back');
    await passGrace();
    d3.close();
    await eventually(async () => (await members('project:p1', 'presence')) === 0 && (await graceJobs('pending')) === 1, 5000, 'gone');
    await passGrace();
    await eventually(() => got(r, 'presence.left').length === 1, 5000, 'left');
    expect(got(r, 'presence.left')).toEqual([{ channel: 'project:p1', user: 'ann' }]);
    expect(got(r, 'presence.joined')).toHaveLength(1);
    expect(got(r, 'presence.updated')).toHaveLength(3);
  });

  it('connection.closed carries the close code, closed or lost, and a duration on the monotonic clock', async () => {
    const r = await hook(['connection.closed'], []);
    const started = performance.now();
    const a = await connect('ann');
    const b = await connect('bob');
    const c = await connect('cat');
    // The node's clock jumps a minute: a duration on the monotonic clock does not.
    clock.advance(60_000);
    a.ws.close(4001, 'bye');
    b.terminate();
    await s.server.node.disconnectUser('acme', 'cat', DisconnectCode.ForceDisconnect);
    await eventually(() => got(r, 'connection.closed').length === 3, 5000, 'three closed');
    const elapsed = performance.now() - started;
    const byUser = new Map(got(r, 'connection.closed').map((d) => [d['user'], d]));
    expect(byUser.get('ann')).toMatchObject({ code: 4001, reason: 'closed' });
    expect(byUser.get('bob')).toMatchObject({ code: 1006, reason: 'lost' });
    expect(byUser.get('cat')).toMatchObject({ code: DisconnectCode.ForceDisconnect.code, reason: 'closed' });
    for (const d of byUser.values()) {
      expect(Number.isInteger(d['durationMs'])).toBe(true);
      expect(d['durationMs'] as number).toBeGreaterThanOrEqual(0);
      expect(d['durationMs'] as number).toBeLessThanOrEqual(elapsed + 1);
    }
    await eventually(async () => (await rows('sb_webhook_connections')) === 0, 5000, 'no open connection rows');
    void c;
  });

  it('writes no row when no endpoint wants a lifecycle event (another tenant’s endpoint included)', async () => {
    const r = await hook(['connection.opened', 'webhook.test'], []);
    await hook(['channel.*', 'presence.*', 'connection.closed'], ['project:*'], 'demo');
    const a = await connect('ann');
    await ok(a, 'subscribe', { channel: 'project:z' });
    await ok(a, 'presence_set', { channel: 'project:z', state: { page: 'x' } });
    await ok(a, 'presence_set', { channel: 'project:z', state: { page: 'y' } });
    // The other tenant's connection is recorded: its rows show the hooks have run meanwhile.
    const e = await connect('eve', 'demo');
    await ok(e, 'subscribe', { channel: 'project:z' });
    await ok(e, 'presence_set', { channel: 'project:z', state: { page: 'x' } });
    await eventually(async () => (await rows('sb_webhook_members', { tenant: 'demo' })) === 2, 5000, "the other tenant's rows");
    a.close();
    await eventually(() => got(r, 'connection.opened').length === 1, 5000, 'the opened event');
    e.close();
    await eventually(async () => (await rows('sb_webhook_members', { tenant: 'demo' })) === 0, 5000, "the other tenant's close");
    for (const t of LIFECYCLE_TABLES) expect(await rows(t, { tenant: 'acme' }), t).toBe(0);
  });

  it("never sends one tenant's lifecycle events, nor its canaries, to another tenant's endpoint", async () => {
    const mine = await hook(['channel.*', 'presence.*', 'connection.closed'], []);
    const theirs = await hook(['channel.*', 'presence.*', 'connection.closed'], [], 'demo');
    const b = await connect('canary-user-b-91c2', 'demo');
    await ok(b, 'subscribe', { channel: 'project:canary-chan-b-4e7a' });
    await ok(b, 'presence_set', { channel: 'project:canary-chan-b-4e7a', state: { note: 'canary-state-b-d3f0' } });
    const a = await connect('ann');
    await ok(a, 'subscribe', { channel: 'project:shared' });
    await eventually(() => got(theirs, 'presence.joined').length === 1 && got(mine, 'channel.occupied').length === 1, 5000, 'each tenant its events');
    b.close();
    a.close();
    await eventually(() => got(theirs, 'connection.closed').length === 1 && got(mine, 'connection.closed').length === 1, 5000, 'each its closed');
    await passGrace();
    await eventually(() => got(theirs, 'channel.vacated').length === 1 && got(mine, 'channel.vacated').length === 1, 5000, 'each its vacated');
    const leaked = mine.received.map((x) => x.body).join('\n');
    for (const canary of ['canary-user-b-91c2', 'canary-chan-b-4e7a', 'canary-state-b-d3f0']) expect(leaked).not.toContain(canary);
    expect(theirs.received.map((x) => x.body).join('\n')).toContain('canary-state-b-d3f0');
    expect(theirs.received.map((x) => x.body).join('\n')).not.toContain('project:shared');
  });
});
