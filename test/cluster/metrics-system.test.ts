import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type DurableServer, startDurableServer, type TestDatabase } from '../durable/helpers.js';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { RawClient } from '../helpers/raw-client.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { dropPrefix } from './drop-prefix.js';

/**
 * The server's own figures on two nodes of one Redis (and one PostgreSQL): each node meters
 * itself under its `node` label and announces its buckets like any store, so either node
 * answers both nodes' figures, each equal to that node's own `/metrics` counters; a grant
 * minted through one node opens a live subscription on the other.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `sbself-${randomBytes(4).toString('hex')}`;
const T0 = 1_700_000_040_000;

describe("the server's own figures on two nodes (Redis engine)", () => {
  const clock = new ManualClock(T0);
  let db: TestDatabase;
  let nodes: DurableServer[] = [];
  const cleanup: Array<() => void> = [];
  const feature = (n: DurableServer) => n.server.feature<{ meter: { sample(): number }; cluster: { push(): Promise<number> } }>('metrics');

  async function promValue(n: DurableServer, name: string): Promise<number> {
    const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  }

  async function total(n: DurableServer, series: string, labels: Record<string, string>): Promise<number> {
    const q = new URLSearchParams({ scope: 'system', series, labels: JSON.stringify(labels), resolution: '1m', stats: 'sum' });
    const res = await n.api('GET', `/metrics/query?${q}`, { key: n.apiKey });
    expect(res.status, res.text).toBe(200);
    return ((res.body['stats'] as Record<string, Array<number | null>>)['sum'] ?? []).reduce<number>((a, b) => a + (b ?? 0), 0);
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const config = { redis: REDIS_URL, redisPrefix: prefix, now: clock.now, metrics: { systemInterval: 0, pushInterval: '200ms' } };
    for (const id of ['a', 'b']) nodes.push(await startDurableServer('postgres', { ...config, nodeId: `sys-${id}` }, db));
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanup) c();
    for (const n of nodes) await n.close();
    nodes = [];
    await db?.drop();
    await dropPrefix(REDIS_URL, prefix);
  }, 30_000);

  it("answers every node's figures on every node, each equal to that node's /metrics counters", async () => {
    const [a, b] = nodes as [DurableServer, DurableServer];
    const publish = async (n: DurableServer, count: number) => {
      const c = await RawClient.connect(n.url, await n.token({ sub: 'ada', tenant: 'acme' }));
      cleanup.push(() => c.close());
      for (let i = 0; i < count; i++) expect((await c.call('publish', { channel: 'project:7', data: { i } })).error).toBeUndefined();
    };
    await publish(a, 4);
    await publish(b, 6);
    const published = { 'sys-a': await promValue(a, 'switchboard_publications_total'), 'sys-b': await promValue(b, 'switchboard_publications_total') };
    expect(published).toEqual({ 'sys-a': 4, 'sys-b': 6 });
    for (const n of nodes) feature(n).meter.sample();
    for (const n of nodes) await feature(n).cluster.push();

    for (const n of nodes) {
      for (const [node, count] of Object.entries(published)) {
        let got = -1;
        await eventually(
          async () => {
            got = await total(n, 'sb.publications', { node });
            return got === count;
          },
          10_000,
          `the publications of ${node} read on ${n === a ? 'sys-a' : 'sys-b'}`,
        );
        expect(got).toBe(count);
      }
      const listed = await n.api('GET', '/metrics/series?scope=system', { key: n.apiKey });
      const sets = (listed.body['series'] as Array<{ name: string; labelSets: Array<Record<string, string>> }>).find(
        (x) => x.name === 'sb.tenant.connections',
      )?.labelSets;
      expect(sets).toEqual(
        expect.arrayContaining([
          { node: 'sys-a', tenant: 'acme' },
          { node: 'sys-b', tenant: 'acme' },
        ]),
      );
    }
  });

  it('opens a live subscription on one node with a grant minted through the other', async () => {
    const [a, b] = nodes as [DurableServer, DurableServer];
    const granted = await b.api('POST', '/metrics/system/grants', { key: b.apiKey });
    expect(granted.status, granted.text).toBe(200);
    const viewer = await connectedClient(a.url, () => a.token({ sub: 'console', tenant: 'demo', caps: {} }), cleanup);
    const sub = viewer.metrics.subscribe({
      scope: 'system',
      grant: granted.body['grant'] as string,
      series: 'sb.publications',
      labels: { node: 'sys-b' },
      stats: ['sum'],
    });
    await sub.ready;
    const seen = () => (sub.columns.series[0]?.stats.sum ?? []).reduce<number>((x, y) => x + (y ?? 0), 0);
    await eventually(() => seen() === 6, 10_000, "node b's publications in the backfill on node a");
    const c = await RawClient.connect(b.url, await b.token({ sub: 'bo', tenant: 'acme' }));
    cleanup.push(() => c.close());
    for (let i = 0; i < 2; i++) expect((await c.call('publish', { channel: 'project:8', data: { i } })).error).toBeUndefined();
    clock.advance(1000);
    feature(b).meter.sample();
    await feature(b).cluster.push();
    await eventually(() => seen() === 8, 10_000, "node b's next sample live on node a");
  });
});
