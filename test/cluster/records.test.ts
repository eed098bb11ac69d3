/**
 * Records on two server processes sharing the real Redis and the real PostgreSQL: writes made
 * on both nodes at once on one base are serialised per record (the row lock), decided by the
 * policy, numbered without gaps, and pushed to the subscribers on both nodes.
 */
import { SwitchboardClient, type SwitchboardError } from '@switchboard/client';
import { type RecordOverwrittenEvent, records } from '@switchboard/client/records';
import type { RecordPush, RecordState } from '@switchboard/protocol';
import { mintToken } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { type BlockingProxy, startBlockingProxy } from '../helpers/blocking-proxy.js';
import { type Frame, RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, newPrefix, SECRET, startCluster, stopAll } from './cluster.js';

const WRITER = ['subscribe', 'publish'];

describe('records on a cluster of two nodes', () => {
  const prefix = newPrefix('records');
  let nodes: ClusterNode[] = [];
  let db: TestDatabase;
  const clients: RawClient[] = [];
  const sdks: SwitchboardClient[] = [];
  const proxies: BlockingProxy[] = [];
  const tokenOf = (user: string) =>
    mintToken(SECRET, { sub: user, tenant: 'acme', caps: { 'lww:*': WRITER, 'form:*': WRITER, 'strict:*': WRITER } as never, ttlSeconds: 3600 });
  /** An SDK client, connected (to `url`: a node, or a proxy in front of nodes). */
  const sdk = async (url: string, user: string) => {
    const c = new SwitchboardClient(url, {
      getToken: () => tokenOf(user),
      WebSocket,
      transports: ['websocket'],
      random: () => 0,
      backoff: { minDelay: 10, maxDelay: 50 },
    });
    sdks.push(c);
    const ready = new Promise((r) => c.once('connected', r));
    c.connect();
    await ready;
    return c;
  };
  const connect = async (node: ClusterNode, user: string) => {
    const client = await RawClient.connect(node.url, await tokenOf(user));
    clients.push(client);
    return client;
  };
  const write = (c: RawClient, channel: string, base: number, changes: unknown[]) => c.call('records.write', { channel, base, changes }, 15_000);
  const set = (field: string, value: unknown) => ({ field, op: 'set', value });
  const pushes = (c: RawClient, channel: string) =>
    c
      .pushes('pub', channel)
      .map((f) => f['data'] as RecordPush)
      .filter((d) => d.kind === 'record');
  const read = async (node: ClusterNode, channel: string) => (await api(node, 'GET', `/channels/${channel}/record`)).body as unknown as RecordState;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    nodes = await startCluster(['a', 'b'], {
      prefix,
      config: {
        database: db.database,
        limits: { newConnectionsPerIpPerSecond: 100_000 },
        namespaces: {
          lww: { clientPublish: false, records: { policy: 'lww' } },
          form: { clientPublish: false, records: { policy: 'merge', fields: { tags: { type: 'set' }, votes: { type: 'counter' } } } },
          strict: { clientPublish: false, records: { policy: 'manual' } },
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.terminate();
    for (const c of sdks) c.disconnect();
    for (const p of proxies) await p.close();
    await stopAll(nodes);
    await dropPrefix(prefix);
    await db?.drop();
  }, 30_000);

  it('manual: of two writes on one base made on node A and node B, one applies and the other gets 134 with its value; both nodes see the one change', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const [ca, cb] = [await connect(a, 'ann'), await connect(b, 'bob')];
    for (const c of [ca, cb]) expect((await c.call('subscribe', { channel: 'strict:1' })).error).toBeUndefined();
    const [ra, rb] = await Promise.all([write(ca, 'strict:1', 0, [set('email', 'ann@x')]), write(cb, 'strict:1', 0, [set('email', 'bob@x')])]);
    const [ok, refused] = ra.error ? [rb, ra] : [ra, rb];
    const winner = ok === ra ? 'ann' : 'bob';
    expect(ok.result).toMatchObject({ version: 1 });
    expect((refused.error as Frame['error'] & { data: unknown }).data).toEqual({
      version: 1,
      conflicts: [{ field: 'email', value: `${winner}@x`, version: 1, author: winner }],
    });
    for (const c of [ca, cb]) await c.until(() => pushes(c, 'strict:1').length === 1, 10_000, 'the push on both nodes');
    expect((await read(b, 'strict:1')).fields['email']).toMatchObject({ value: `${winner}@x`, version: 1 });
  }, 30_000);

  it('lww: 40 writes made on both nodes at once get versions 1..40 without gaps, every subscriber gets each once, and all converge on the last', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const writers = [await connect(a, 'w1'), await connect(b, 'w2'), await connect(a, 'w3'), await connect(b, 'w4')];
    const watchers = [await connect(a, 'wa'), await connect(b, 'wb')];
    for (const w of watchers) expect((await w.call('subscribe', { channel: 'lww:1' })).error).toBeUndefined();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => write(writers[i % 4] as RawClient, 'lww:1', 0, [set('position', { x: i, y: i })])));
    const versions = results.map((r) => (r.result as { version: number }).version);
    expect([...versions].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const last = versions.indexOf(40);
    const stored = await read(b, 'lww:1');
    expect(stored.version).toBe(40);
    expect(stored.fields['position']?.value).toEqual({ x: last, y: last });
    for (const w of watchers) {
      await w.until(() => pushes(w, 'lww:1').length === 40, 15_000, '40 pushes');
      expect(
        pushes(w, 'lww:1')
          .map((p) => p.version)
          .sort((x, y) => x - y),
      ).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    }
  }, 60_000);

  it('merge: counter deltas and set adds written on both nodes at once all apply', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const [ca, cb] = [await connect(a, 'ann'), await connect(b, 'bob')];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        write(i % 2 === 0 ? ca : cb, 'form:1', 0, [
          { field: 'votes', op: 'increment', by: 1 },
          { field: 'tags', op: 'add', items: [`t${i % 5}`] },
        ]),
      ),
    );
    expect(results.every((r) => r.error === undefined)).toBe(true);
    const stored = await read(a, 'form:1');
    expect(stored.version).toBe(20);
    expect(stored.fields['votes']?.value).toBe(20);
    expect([...(stored.fields['tags']?.value as string[])].sort()).toEqual(['t0', 't1', 't2', 't3', 't4']);
  }, 30_000);

  it('SDK writes made offline replay after a reconnect through a balancer that spreads connections over both nodes, under the same policy', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    // A load balancer without affinity: every new connection goes to the next node.
    const proxy = await startBlockingProxy([a.port, b.port]);
    proxies.push(proxy);
    proxy.allowUpgrades = true;
    const ann = await sdk(proxy.url, 'ann');
    const bob = await sdk(b.url, 'bob');
    const [strictA, strictB] = [records(ann).open('strict:9'), records(bob).open('strict:9')];
    const [lwwA, lwwB] = [records(ann).open('lww:9'), records(bob).open('lww:9')];
    await Promise.all([strictA.ready, strictB.ready, lwwA.ready, lwwB.ready]);
    proxy.allowUpgrades = false;
    const lost = new Promise((r) => ann.once('reconnecting', r));
    proxy.cut();
    await lost;
    const refused = strictA.set('email', 'ann@offline').catch((e: unknown) => e as SwitchboardError);
    const wins = lwwA.set('title', 'ann offline');
    await strictB.set('email', 'bob@online');
    await lwwB.set('title', 'bob online');
    const overwritten = new Promise<RecordOverwrittenEvent>((resolve) => lwwB.on('overwritten', resolve));
    const back = new Promise((r) => ann.once('connected', r));
    proxy.allowUpgrades = true;
    await back;
    const err = await refused;
    expect(err.code).toBe(134);
    expect(err.data).toEqual({ version: 1, conflicts: [{ field: 'email', value: 'bob@online', version: 1, author: 'bob' }] });
    expect(strictA.get('email')).toBe('bob@online');
    expect(await wins).toMatchObject({ version: 2, replaced: [{ field: 'title', author: 'bob', version: 1 }] });
    expect(await overwritten).toMatchObject({ field: 'title', value: 'ann offline', author: 'ann', version: 2 });
    expect((await read(a, 'lww:9')).fields['title']).toMatchObject({ value: 'ann offline', version: 2 });
    expect((await read(a, 'strict:9')).fields['email']).toMatchObject({ value: 'bob@online', version: 1 });
  }, 30_000);
});
