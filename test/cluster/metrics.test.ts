/**
 * Series declared over HTTP and saved dashboards on two server processes sharing the real
 * Redis and the real PostgreSQL: a change of a declaration made through one node reaches the
 * other at once (announced over the engine's node messages, long before its periodic reload),
 * and a dashboard saved through one node reaches an SDK viewer connected to the other.
 */
import { SwitchboardClient } from '@switchboard/client';
import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { api, type ClusterNode, dropPrefix, eventually, newPrefix, startCluster, stopAll, token } from './cluster.js';

describe('metric series and dashboards on a cluster of two nodes', () => {
  const prefix = newPrefix('metrics');
  let nodes: ClusterNode[] = [];
  let db: TestDatabase;
  const sdks: SwitchboardClient[] = [];
  const a = () => nodes[0] as ClusterNode;
  const b = () => nodes[1] as ClusterNode;
  const ingest = (node: ClusterNode, labels: Record<string, string>) =>
    api(node, 'POST', '/metrics/points', { points: [{ series: 'web.ttfb_ms', labels, value: 80 }] });
  const code = (res: { body: Record<string, unknown> }) => (res.body['error'] as { code: number } | undefined)?.code;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // A reload every hour: what reaches the other node within the test came by the announcement.
    nodes = await startCluster(['a', 'b'], {
      prefix,
      config: {
        database: db.database,
        metrics: { seriesRefresh: '1h' },
        // A configuration that lists its namespaces lists `dashboard` too (docs/metrics.md).
        namespaces: { dashboard: { subscribe: 'authenticated', clientPublish: false } },
      },
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of sdks) c.disconnect();
    await stopAll(nodes);
    await dropPrefix(prefix);
    await db?.drop();
  }, 30_000);

  it('applies a declaration changed or deleted through one node on the other at once', async () => {
    expect((await api(a(), 'PUT', '/metrics/series/web.ttfb_ms', { kind: 'distribution', labels: ['page'] })).status).toBe(200);
    // Node b looks the new name up on its first ingest, and holds the declaration from then on.
    expect((await ingest(b(), { page: '/' })).status).toBe(200);
    expect(code(await ingest(b(), { page: '/', region: 'eu' }))).toBe(ErrorCode.UnknownLabel.code);

    expect((await api(a(), 'PUT', '/metrics/series/web.ttfb_ms', { kind: 'distribution', labels: ['page', 'region'] })).status).toBe(200);
    await eventually(async () => (await ingest(b(), { page: '/', region: 'eu' })).status === 200, 5000, 'node b to take the new label key');

    expect((await api(a(), 'DELETE', '/metrics/series/web.ttfb_ms')).status).toBe(200);
    await eventually(async () => code(await ingest(b(), { page: '/' })) === ErrorCode.UnknownSeries.code, 5000, 'node b to drop the series');
    expect(code(await api(b(), 'GET', '/metrics/query?series=web.ttfb_ms'))).toBe(ErrorCode.UnknownSeries.code);
  });

  it('publishes a dashboard saved through one node to a viewer on the other', async () => {
    const viewer = new SwitchboardClient(b().url, { getToken: () => token('ann'), WebSocket, transports: ['websocket'] });
    sdks.push(viewer);
    viewer.connect();
    const board = viewer.subscribe<{ kind: string; dashboard?: { version: number } }>('dashboard:ops');
    const seen: string[] = [];
    board.on('publication', (p) => seen.push(`${p.data.kind}@${p.data.dashboard?.version ?? '-'}`));
    await new Promise((r) => board.once('subscribed', r));
    await board.enterPresence({ cursor: null });
    expect((await api(a(), 'GET', '/channels/dashboard:ops/presence')).body['members']).toEqual([expect.objectContaining({ user: 'ann' })]);

    expect((await api(a(), 'PUT', '/metrics/dashboards/ops', { title: 'Ops', panels: [{ series: 'web.ttfb_ms' }] })).status).toBe(200);
    expect((await api(a(), 'PUT', '/metrics/dashboards/ops', { title: 'Ops v2', panels: [] })).status).toBe(200);
    await eventually(() => seen.length === 2, 5000, 'both saves on node b');
    expect(seen).toEqual(['dashboard.saved@1', 'dashboard.saved@2']);
    expect((await api(b(), 'GET', '/metrics/dashboards/ops')).body).toMatchObject({ title: 'Ops v2', version: 2 });
  });
});
