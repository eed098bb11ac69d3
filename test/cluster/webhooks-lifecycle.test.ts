import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { RawClient } from '../helpers/raw-client.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { api, type ClusterNode, dropPrefix, eventually, killHard, newPrefix, startNode, stopAll, token } from './cluster.js';

/**
 * The lifecycle events across real server processes: 3 nodes on the real Redis and
 * PostgreSQL, and one node on SQLite restarted after a kill -9. A member leaving on one node
 * while another node still has one sends no `vacated`; after a kill -9 of the node holding
 * the last member, a survivor (or, alone, the node's next run) sends its `connection.closed`
 * (`server_lost`), `presence.left` and `channel.vacated`, each once. The receiver counts by
 * `webhook-id`: none missing, none twice.
 */

const GRACE = '1s';
const EVENTS = ['channel.*', 'presence.*', 'connection.closed'];

/** Verified deliveries of a type answered 2xx, each webhook id once (a second delivery fails the test). */
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

describe('lifecycle webhooks across nodes and a kill -9', () => {
  const prefixes: string[] = [];
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
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
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const receiverFor = async (node: ClusterNode) => {
    const r = await WebhookReceiver.start();
    receivers.push(r);
    const created = await api(node, 'POST', '/webhooks/endpoints', { url: r.url, events: EVENTS, channels: ['project:*'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    r.secret = created.body['secret'] as string;
    return r;
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
  /** Wait until `node` knows the endpoint: a probe channel's `occupied` comes back. */
  const probe = async (r: WebhookReceiver, node: ClusterNode) => {
    const c = await connect(node, `probe-${node.name}`);
    const channel = `project:probe-${node.name}`;
    await eventually(
      async () => {
        if (got(r, 'channel.occupied', (d) => d['channel'] === channel).length > 0) return true;
        await c.call('unsubscribe', { channel });
        await ok(c, 'subscribe', { channel });
        return false;
      },
      10_000,
      `${node.name} knows the endpoint`,
    );
  };

  it('a member leaving one node while another stays sends no vacated; a kill -9 of the node with the last member: a survivor sends vacated, left and closed (server_lost) once each', async () => {
    const prefix = newPrefix('hooks-life');
    prefixes.push(prefix);
    const db = await createTestDatabase('postgres');
    dbs.push(db);
    const config = {
      database: db.database,
      jobs: { pollInterval: '100ms', lease: '2s' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], lifecycleGrace: GRACE, retrySchedule: ['1s', '2s', '5s'] },
    };
    nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(n, { prefix, config })));
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const r = await receiverFor(a);
    for (const n of nodes) await probe(r, n);

    // ann on two nodes: one device on b, one on c.
    const onB = await connect(b, 'ann');
    const onC = await connect(c, 'ann');
    await ok(onB, 'subscribe', { channel: 'project:x' });
    await ok(onB, 'presence_set', { channel: 'project:x', state: { page: 'b' } });
    await eventually(() => got(r, 'presence.joined', (d) => d['channel'] === 'project:x').length === 1, 10_000, 'joined');
    await ok(onC, 'subscribe', { channel: 'project:x' });
    await ok(onC, 'presence_set', { channel: 'project:x', state: { page: 'c' } });
    await eventually(() => got(r, 'presence.updated', (d) => d['channel'] === 'project:x').length === 1, 10_000, 'the second device');

    // The device on b leaves: the one on c stays, so no grace starts and nothing is vacated.
    onB.close();
    await eventually(() => got(r, 'presence.updated', (d) => d['channel'] === 'project:x').length === 2, 10_000, 'the first device left');
    await eventually(() => got(r, 'connection.closed', (d) => d['user'] === 'ann').length === 1, 10_000, 'its connection closed');
    const grace = await query(db, "select payload from sb_jobs where kind = 'webhooks.grace'");
    expect(grace.filter((j) => String(j['payload']).includes('project:x'))).toEqual([]);
    expect(got(r, 'channel.vacated', (d) => d['channel'] === 'project:x')).toEqual([]);
    expect(got(r, 'presence.left', (d) => d['channel'] === 'project:x')).toEqual([]);
    expect(got(r, 'connection.closed', (d) => d['user'] === 'ann')[0]).toMatchObject({ reason: 'closed', code: 1005 });

    // kill -9 the node with the last member: a survivor decides, after the node's registration expired and the grace.
    await killHard(c);
    await eventually(
      () =>
        got(r, 'channel.vacated', (d) => d['channel'] === 'project:x').length === 1 &&
        got(r, 'presence.left', (d) => d['channel'] === 'project:x').length === 1 &&
        got(r, 'connection.closed', (d) => d['reason'] === 'server_lost' && d['user'] === 'ann').length === 1,
      30_000,
      'vacated, left and closed (server_lost) after the kill',
    );
    // Everything decided has been delivered: nothing more is coming.
    await eventually(
      async () =>
        (await query(db, "select id from sb_jobs where status in ('pending', 'running') and kind in ('webhooks.grace', 'webhooks.deliver')")).length === 0,
      30_000,
      'no job left',
    );
    expect(got(r, 'channel.vacated', (d) => d['channel'] === 'project:x')).toEqual([{ channel: 'project:x' }]);
    expect(got(r, 'presence.left', (d) => d['channel'] === 'project:x')).toEqual([{ channel: 'project:x', user: 'ann' }]);
    const lost = got(r, 'connection.closed', (d) => d['reason'] === 'server_lost');
    // Both connections node c served (ann's device and the probe) are closed once each.
    expect(lost.map((d) => d['user']).sort()).toEqual(['ann', 'probe-c']);
    expect(lost.every((d) => d['code'] === 1006 && (d['durationMs'] as number) >= 0)).toBe(true);
    expect(got(r, 'channel.occupied', (d) => d['channel'] === 'project:x')).toHaveLength(1);
    expect(got(r, 'channel.vacated', (d) => d['channel'] === 'project:probe-c')).toHaveLength(1);
    expect(r.received.filter((x) => x.verified === null)).toEqual([]);
    expect(await query(db, "select * from sb_webhook_members where node like 'c-%'")).toEqual([]);
    expect(await query(db, "select * from sb_webhook_connections where node like 'c-%'")).toEqual([]);
    void a;
  }, 90_000);

  it('subscribers racing on 3 nodes: each occupied and each vacated once per round, never two nodes deciding the same transition', async () => {
    const prefix = newPrefix('hooks-race');
    prefixes.push(prefix);
    const db = await createTestDatabase('postgres');
    dbs.push(db);
    const config = {
      database: db.database,
      jobs: { pollInterval: '100ms', lease: '2s' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], lifecycleGrace: '300ms' },
    };
    nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(n, { prefix, config })));
    const r = await receiverFor(nodes[0] as ClusterNode);
    for (const n of nodes) await probe(r, n);
    const PER_NODE = 4;
    const ROUNDS = 3;
    const racers = await Promise.all(nodes.flatMap((n) => Array.from({ length: PER_NODE }, (_, i) => connect(n, `racer-${n.name}-${i}`))));
    const mine = (type: string) => got(r, type, (d) => d['channel'] === 'project:race');
    for (let round = 1; round <= ROUNDS; round++) {
      // Everyone subscribes at once, on three nodes: one occupied.
      await Promise.all(racers.map((c) => ok(c, 'subscribe', { channel: 'project:race' })));
      await eventually(() => mine('channel.occupied').length === round, 10_000, `occupied, round ${round}`);
      // Everyone leaves at once: exactly one leave sees the channel empty, one vacated after the grace.
      await Promise.all(racers.map((c) => ok(c, 'unsubscribe', { channel: 'project:race' })));
      await eventually(() => mine('channel.vacated').length === round, 10_000, `vacated, round ${round}`);
    }
    await eventually(
      async () =>
        (await query(db, "select id from sb_jobs where status in ('pending', 'running') and kind in ('webhooks.grace', 'webhooks.deliver')")).length === 0,
      10_000,
      'no job left',
    );
    expect(mine('channel.occupied')).toHaveLength(ROUNDS);
    expect(mine('channel.vacated')).toHaveLength(ROUNDS);
    // In time order they alternate: occupied, vacated, occupied, …
    const sequence = r
      .events()
      .filter((x) => x.status === 200 && x.verified?.data['channel'] === 'project:race')
      .sort((x, y) => Date.parse(x.verified?.timestamp ?? '') - Date.parse(y.verified?.timestamp ?? ''))
      .map((x) => x.verified?.type);
    expect(sequence).toEqual(Array.from({ length: ROUNDS }, () => ['channel.occupied', 'channel.vacated']).flat());
    expect(await query(db, "select * from sb_webhook_occupancy where channel = 'project:race'")).toEqual([]);
  }, 90_000);

  it('one node on SQLite killed and restarted: its next run sends closed (server_lost), left and vacated once each', async () => {
    const prefix = newPrefix('hooks-life-solo');
    prefixes.push(prefix);
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-hooks-life-'));
    dirs.push(dataDir);
    const config = {
      redis: undefined,
      dataDir,
      jobs: { pollInterval: '100ms', lease: '2s' },
      webhooks: { allowNetworks: ['127.0.0.1/32'], lifecycleGrace: GRACE },
    };
    const first = await startNode('solo', { prefix, config });
    nodes.push(first);
    const r = await receiverFor(first);
    const ann = await connect(first, 'ann');
    await ok(ann, 'subscribe', { channel: 'project:y' });
    await ok(ann, 'presence_set', { channel: 'project:y', state: { page: 'y' } });
    await eventually(() => got(r, 'channel.occupied').length === 1 && got(r, 'presence.joined').length === 1, 10_000, 'occupied and joined before the kill');
    await killHard(first);
    const second = await startNode('solo', { prefix, config });
    nodes.push(second);
    await eventually(
      () => got(r, 'channel.vacated').length === 1 && got(r, 'presence.left').length === 1 && got(r, 'connection.closed').length === 1,
      20_000,
      'vacated, left and closed after the restart',
    );
    expect(got(r, 'connection.closed')[0]).toMatchObject({ user: 'ann', reason: 'server_lost', code: 1006 });
    expect(got(r, 'channel.vacated')).toEqual([{ channel: 'project:y' }]);
    expect(got(r, 'presence.left')).toEqual([{ channel: 'project:y', user: 'ann' }]);
    // A second restart finds nothing left to reap.
    await stopAll([second]);
    const third = await startNode('solo', { prefix, config });
    nodes.push(third);
    const again = await connect(third, 'bob');
    await ok(again, 'subscribe', { channel: 'project:z' });
    await eventually(() => got(r, 'channel.occupied', (d) => d['channel'] === 'project:z').length === 1, 10_000, 'the third run works');
    expect(got(r, 'connection.closed', (d) => d['reason'] === 'server_lost')).toHaveLength(1);
    expect(got(r, 'channel.vacated')).toHaveLength(1);
    expect(got(r, 'presence.left')).toHaveLength(1);
  }, 90_000);
});
