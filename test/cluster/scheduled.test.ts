import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, STORES, type TestDatabase } from '../durable/helpers.js';
import { api, type ClusterNode, dropPrefix, eventually, killHard, newPrefix, startCluster, startNode, stopAll } from './cluster.js';

/**
 * Scheduled publications across crashes and nodes: server processes on the Redis engine and
 * one PostgreSQL schema. Channel history is the witness: every scheduled value appears in it
 * exactly once, and each job was claimed by one node once (attempts 1) when no node died.
 */

interface Scheduled {
  id: string;
  status: string;
  attempts: number;
}

const JOBS = { pollInterval: '100ms', lease: '2s' };
const N_CRASH = 12;
const N_CLUSTER = 30;

async function scheduleAll(nodes: ClusterNode[], channel: string, n: number, delaySeconds: (i: number) => number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await api(nodes[i % nodes.length] as ClusterNode, 'POST', '/publish', { channel, data: { i }, delaySeconds: delaySeconds(i) });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    ids.push(res.body['id'] as string);
  }
  return ids;
}

async function allScheduled(node: ClusterNode): Promise<Scheduled[]> {
  const out: Scheduled[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(node, 'GET', `/scheduled?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    out.push(...(res.body['scheduled'] as Scheduled[]));
    cursor = res.body['nextCursor'] as string | null;
  } while (cursor);
  return out;
}

/** The `i` of every publication in the channel's history, in offset order. */
async function delivered(node: ClusterNode, channel: string): Promise<number[]> {
  const res = await api(node, 'GET', `/channels/${channel}/history?limit=100`);
  expect(res.status).toBe(200);
  return (res.body['publications'] as Array<{ data: { i: number } }>).map((p) => p.data.i);
}

describe('scheduled publications across processes (Redis engine; SQLite or one PostgreSQL)', () => {
  const prefixes: string[] = [];
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
  let nodes: ClusterNode[] = [];

  afterEach(async () => {
    await stopAll(nodes);
    nodes = [];
  });
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(p);
    for (const d of dbs) await d.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it.each(STORES)(
    'after a kill -9 between scheduling and the due time, the restarted node delivers each exactly once (%s)',
    async (store) => {
      const prefix = newPrefix('sched-crash');
      prefixes.push(prefix);
      const db = await createTestDatabase(store);
      dbs.push(db);
      // SQLite: the restarted process opens the same file.
      const dataDir = mkdtempSync(join(tmpdir(), 'sb-sched-crash-'));
      dirs.push(dataDir);
      const config = { database: db.database, dataDir, jobs: JOBS };
      const first = await startNode('a', { prefix, config });
      nodes.push(first);
      const ids = await scheduleAll([first], 'project:crash', N_CRASH, (i) => 3 + i * 0.05);
      await killHard(first);

      const second = await startNode('b', { prefix, config });
      nodes.push(second);
      await eventually(async () => (await allScheduled(second)).every((s) => s.status === 'delivered'), 30_000, 'every scheduled publication delivered');
      const list = await allScheduled(second);
      expect(list.map((s) => s.id).sort()).toEqual([...ids].sort());
      const seen = await delivered(second, 'project:crash');
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: N_CRASH }, (_, i) => i));
    },
    90_000,
  );

  it('on three nodes each scheduled publication is claimed by one node once and published once', async () => {
    const prefix = newPrefix('sched-3');
    prefixes.push(prefix);
    const db = await createTestDatabase('postgres');
    dbs.push(db);
    nodes = await startCluster(['a', 'b', 'c'], { prefix, config: { database: db.database, jobs: JOBS } });
    await scheduleAll(nodes, 'project:three', N_CLUSTER, () => 2);
    const [a] = nodes as [ClusterNode];
    await eventually(async () => (await allScheduled(a)).every((s) => s.status === 'delivered'), 30_000, 'every scheduled publication delivered');
    const list = await allScheduled(a);
    expect(list).toHaveLength(N_CLUSTER);
    // One claim each: a second node claiming the same job would have made it attempt 2.
    expect(list.filter((s) => s.attempts !== 1)).toEqual([]);
    const seen = await delivered(a, 'project:three');
    expect(seen).toHaveLength(N_CLUSTER);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: N_CLUSTER }, (_, i) => i));
  }, 90_000);
});
