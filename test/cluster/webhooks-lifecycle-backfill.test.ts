import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { RawClient } from '../helpers/raw-client.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { api, type ClusterNode, dropPrefix, eventually, newPrefix, startNode, stopAll, token } from './cluster.js';

/**
 * Members that subscribed before the endpoint existed, across real server processes on the
 * real Redis and PostgreSQL: when the endpoint comes (created over the API on one node, or
 * declared in the config file of a node that starts), every node records what it holds, so
 * a member coming and going on another node sends no `vacated` while an older one stays,
 * and the last older member's leaving sends it once, after the grace.
 */

const GRACE = '1s';
const EVENTS = ['channel.*', 'presence.*', 'connection.closed'];

/** Verified deliveries of a type answered 2xx, each webhook id once. */
function got(r: WebhookReceiver, type: string, where: (d: Record<string, unknown>) => boolean = () => true): Array<Record<string, unknown>> {
  const list = r.events(type).filter((x) => x.status === 200 && where(x.verified?.data as Record<string, unknown>));
  const ids = list.map((x) => x.id);
  expect(new Set(ids).size, `${type}: a webhook id delivered twice`).toBe(ids.length);
  return list.map((x) => x.verified?.data as Record<string, unknown>);
}

async function query(db: TestDatabase, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: db.database });
  await client.connect();
  try {
    return (await client.query(text)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

describe('lifecycle webhooks for members older than the endpoint, across nodes', () => {
  const prefixes: string[] = [];
  const dbs: TestDatabase[] = [];
  const receivers: WebhookReceiver[] = [];
  const clients: RawClient[] = [];
  let nodes: ClusterNode[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await stopAll(nodes);
    nodes = [];
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    for (const p of prefixes) await dropPrefix(p);
    for (const d of dbs) await d.drop();
  });

  const setup = async (name: string) => {
    const prefix = newPrefix(name);
    prefixes.push(prefix);
    const db = await createTestDatabase('postgres');
    dbs.push(db);
    const r = await WebhookReceiver.start();
    receivers.push(r);
    const config = {
      database: db.database,
      jobs: { pollInterval: '100ms', lease: '2s' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], lifecycleGrace: GRACE, retrySchedule: ['1s', '2s', '5s'] },
    };
    return { prefix, db, r, config };
  };
  const connect = async (node: ClusterNode, user: string) => {
    const c = await RawClient.connect(node.url, await token(user));
    clients.push(c);
    return c;
  };
  const ok = async (c: RawClient, method: string, params: Record<string, unknown>) => {
    const reply = await c.call(method, params);
    expect(reply.error, JSON.stringify(reply.error)).toBeUndefined();
  };
  const on = (channel: string) => (d: Record<string, unknown>) => d['channel'] === channel;
  /** Wait until `node` knows the endpoint: a probe channel's `occupied` comes back (its backfill ran in that turn, its writes first). */
  const probe = async (r: WebhookReceiver, node: ClusterNode) => {
    const c = await connect(node, `probe-${node.name}`);
    const channel = `project:probe-${node.name}`;
    await ok(c, 'subscribe', { channel });
    await eventually(() => got(r, 'channel.occupied', on(channel)).length > 0, 10_000, `${node.name} knows the endpoint`);
  };
  /** The channel's graces (not a user's) scheduled so far. */
  const channelGraces = async (db: TestDatabase, channel: string) =>
    (await query(db, "select payload from sb_jobs where kind = 'webhooks.grace'")).filter((j) => {
      const p = (typeof j['payload'] === 'string' ? JSON.parse(j['payload']) : j['payload']) as { channel: string; user: string | null };
      return p.channel === channel && p.user === null;
    });
  const noJobLeft = (db: TestDatabase) =>
    eventually(
      async () =>
        (await query(db, "select id from sb_jobs where status in ('pending', 'running') and kind in ('webhooks.grace', 'webhooks.deliver')")).length === 0,
      30_000,
      'no job left',
    );

  /**
   * Older members on b and c, a newcomer on a: the newcomer leaves (no vacated), c's member
   * leaves (no vacated), b's member leaves: vacated once, after the grace. No occupied for the
   * channel at all: it was occupied before the endpoint.
   */
  const scenario = async (r: WebhookReceiver, db: TestDatabase, a: ClusterNode, channel: string, onB: RawClient, onC: RawClient) => {
    const ann = await connect(a, 'ann');
    await ok(ann, 'subscribe', { channel });
    await ok(ann, 'presence_set', { channel, state: { page: 'a' } });
    await eventually(() => got(r, 'presence.joined', on(channel)).length === 1, 10_000, "ann's joined");
    ann.close();
    // Each connection's leaves are decided before its closed.
    await eventually(() => got(r, 'connection.closed', (d) => d['user'] === 'ann').length === 1, 10_000, "ann's closed");
    // No grace for the channel: the older members on b and c are recorded (each node's probe waited for its backfill).
    expect(await channelGraces(db, channel)).toEqual([]);
    expect(await query(db, `select user_id from sb_webhook_members where channel = '${channel}' and kind = 'sub' order by user_id`)).toEqual([
      { user_id: 'bob' },
      { user_id: 'carl' },
    ]);
    await eventually(() => got(r, 'presence.left', on(channel)).length === 1, 10_000, "ann's left, after her grace");
    onC.close();
    await eventually(() => got(r, 'connection.closed', (d) => d['user'] === 'carl').length === 1, 10_000, "carl's closed");
    expect(await channelGraces(db, channel)).toEqual([]);
    expect(got(r, 'channel.vacated', on(channel))).toEqual([]);
    onB.close();
    await eventually(() => got(r, 'channel.vacated', on(channel)).length === 1 && got(r, 'presence.left', on(channel)).length === 2, 10_000, 'vacated, left');
    await noJobLeft(db);
    expect(got(r, 'channel.vacated', on(channel))).toEqual([{ channel }]);
    expect(got(r, 'channel.occupied', on(channel))).toEqual([]);
    expect(got(r, 'presence.joined', on(channel)).map((d) => d['user'])).toEqual(['ann']);
    expect(got(r, 'presence.left', on(channel)).map((d) => d['user'])).toEqual(['ann', 'bob']);
    expect(got(r, 'connection.closed', (d) => ['ann', 'bob', 'carl'].includes(d['user'] as string)).map((d) => d['reason'])).toEqual([
      'closed',
      'closed',
      'closed',
    ]);
    expect(await query(db, `select * from sb_webhook_occupancy where channel = '${channel}'`)).toEqual([]);
    expect(r.received.filter((x) => x.verified === null)).toEqual([]);
  };

  it('an endpoint created on node a: members on b and c from before are recorded, no vacated while one stays, vacated once after the last', async () => {
    const { prefix, db, r, config } = await setup('hooks-backfill');
    nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(n, { prefix, config })));
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const bob = await connect(b, 'bob');
    await ok(bob, 'subscribe', { channel: 'project:x' });
    await ok(bob, 'presence_set', { channel: 'project:x', state: { page: 'b' } });
    const carl = await connect(c, 'carl');
    await ok(carl, 'subscribe', { channel: 'project:x' });
    expect(await query(db, 'select * from sb_webhook_members')).toEqual([]);
    const created = await api(a, 'POST', '/webhooks/endpoints', { url: r.url, events: EVENTS, channels: ['project:*'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    r.secret = created.body['secret'] as string;
    for (const n of nodes) await probe(r, n);
    await scenario(r, db, a, 'project:x', bob, carl);
  }, 90_000);

  it('an endpoint declared in the config of a node that starts: the running nodes hear of it and record their older members', async () => {
    const { prefix, db, r, config } = await setup('hooks-backfill-declared');
    const secret = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
    r.secret = secret;
    nodes = await Promise.all(['b', 'c'].map((n) => startNode(n, { prefix, config })));
    const [b, c] = nodes as [ClusterNode, ClusterNode];
    const bob = await connect(b, 'bob');
    await ok(bob, 'subscribe', { channel: 'project:d' });
    await ok(bob, 'presence_set', { channel: 'project:d', state: { page: 'b' } });
    const carl = await connect(c, 'carl');
    await ok(carl, 'subscribe', { channel: 'project:d' });
    const declared = { id: 'backend', tenant: 'acme', url: r.url, events: EVENTS, channels: ['project:*'], secret };
    const a = await startNode('a', { prefix, config: { ...config, webhooks: { ...config.webhooks, endpoints: [declared] } } });
    nodes.push(a);
    for (const n of nodes) await probe(r, n);
    await scenario(r, db, a, 'project:d', bob, carl);
  }, 90_000);
});
