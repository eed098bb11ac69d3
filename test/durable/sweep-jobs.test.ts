import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineFeature } from '@switchboard/server';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestDatabase, type DurableServer, STORES, type StoreName, startDurableServer, type TestDatabase } from './helpers.js';

/**
 * The features' sweeps as recurring jobs of the job runner, on SQLite and PostgreSQL, with
 * the servers' clock moved by the test and the runners polled by it (no poll timer fires
 * within a test: `jobs.pollInterval` is an hour). Each sweep is one row of sb_jobs for the
 * cluster, run by one node per interval and due again an interval after each run (a node
 * that starts sweeps once itself, as before, and sets the job due an interval later).
 */

const HOUR = 3_600_000;
/** The recurring jobs of the built-in features: one row each. */
const SWEEPS = [
  'activity.sweep',
  'audit.sweep',
  'comments.deadlines',
  'comments.sweep',
  'metrics.sweep',
  'notifications.sweep',
  'records.sweep',
  'webhooks.sweep',
];

/** A feature with a recurring job every hour, as the sweeps are scheduled; `runs` gets the clock of each run, whichever node runs it. */
const counted = (runs: number[]) =>
  defineFeature({
    name: 'counted',
    async start(ctx) {
      ctx.jobs.handle(
        'tick',
        async () => {
          runs.push(ctx.node.now());
          return {};
        },
        { every: () => HOUR },
      );
      await ctx.jobs.recur('tick', ctx.node.now() + HOUR);
    },
  });

interface SweepRow {
  id: string;
  status: string;
  due_at: number;
}

describe.each(STORES)('sweeps as jobs on %s', (store: StoreName) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  let db: TestDatabase;
  let dir: string;
  const clock = new ManualClock();

  async function fresh(): Promise<void> {
    db = await createTestDatabase(store);
    dir = mkdtempSync(join(tmpdir(), 'sb-sweeps-'));
    cleanup.push(
      () => db.drop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  }

  /** A node on the shared database; the sweeps every hour, retention 0 days (what exists at a sweep goes). */
  /** With `runs`, the node also has the `counted` feature. */
  async function node(runs?: number[]): Promise<DurableServer> {
    const s = await startDurableServer(
      store,
      {
        keepDataDir: dir,
        now: clock.now,
        jobs: { pollInterval: '1h' },
        notifications: { retentionDays: 0, sweepInterval: '1h' },
        activity: { retentionDays: 0, sweepInterval: '1h' },
        comments: { sweepInterval: '1h', deadlineInterval: '1h' },
        audit: { sweepInterval: '1h' },
        ...(runs ? { features: [counted(runs)] } : {}),
      },
      db,
    );
    cleanup.push(() => s.close());
    return s;
  }

  const rows = async (s: DurableServer): Promise<SweepRow[]> => {
    const { rows: found } = await sql<SweepRow>`select id, status, due_at from sb_jobs order by id`.execute(s.server.storage.db);
    return found.map((r) => ({ ...r, due_at: Number(r.due_at) }));
  };

  /** Every sweep ran and waits for its next time: nothing running, nothing due. */
  const settled = (...nodes: DurableServer[]) =>
    eventually(
      async () =>
        nodes.every((s) => s.server.jobs.active === 0) &&
        !(await rows(nodes[0] as DurableServer)).some((r) => r.status === 'running' || (r.status === 'pending' && r.due_at <= clock.now())),
      10_000,
      'the sweeps to run and wait for their next time',
    );

  const admin = (s: DurableServer) => ({ key: s.apiKey, tenant: 'acme' });
  const counts = async (s: DurableServer) => {
    const n = await s.api('GET', '/notifications?user=swept', admin(s));
    const a = await s.api('GET', '/activities?scope=project:9', admin(s));
    return [(n.body['notifications'] as unknown[]).length, (a.body['activities'] as unknown[]).length];
  };

  it('a sweep runs on its schedule through the job runner and deletes what is due then', async () => {
    await fresh();
    const s = await node();
    await settled(s);
    expect((await rows(s)).map((r) => r.id)).toEqual(SWEEPS);
    const sweep = (await rows(s)).find((r) => r.id === 'notifications.sweep');
    expect(sweep?.due_at).toBe(clock.now() + HOUR);

    await s.api('POST', '/notifications', { ...admin(s), body: { user: 'swept', type: 'system', title: 'until the next sweep' } });
    await s.api('POST', '/activities', { ...admin(s), body: { scope: 'project:9', actor: 'swept', verb: 'did' } });
    clock.advance(HOUR - 1);
    await s.server.jobs.poll();
    await settled(s);
    expect(await counts(s), 'not due yet: kept').toEqual([1, 1]);

    clock.advance(1);
    await s.server.jobs.poll();
    await settled(s);
    expect(await counts(s), 'due: deleted').toEqual([0, 0]);
    expect((await rows(s)).find((r) => r.id === 'notifications.sweep')?.due_at).toBe(clock.now() + HOUR);
  });

  it('two nodes on one database run each sweep once per interval, not once per node', async () => {
    await fresh();
    // One after the other: two SQLite nodes migrating one file at once wait on its lock.
    const runs: number[] = [];
    const a = await node(runs);
    const b = await node(runs);
    await settled(a, b);
    const ids = [...SWEEPS, 'counted.tick'].sort();
    expect((await rows(a)).map((r) => r.id)).toEqual(ids);

    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      clock.advance(HOUR);
      times.push(clock.now());
      await Promise.all([a.server.jobs.poll(), b.server.jobs.poll()]);
      await settled(a, b);
      const again = await Promise.all([a.server.jobs.poll(), b.server.jobs.poll()]);
      expect(again, `round ${round}: nothing due again within the interval`).toEqual([0, 0]);
      const after = await rows(a);
      expect(after.map((r) => r.id)).toEqual(ids);
      // Every sweep ran in this round (its next run is an interval from now), and on one node only.
      for (const r of after) expect(r.due_at, r.id).toBeGreaterThan(clock.now());
      expect(after.find((r) => r.id === 'notifications.sweep')?.due_at).toBe(clock.now() + HOUR);
      expect(runs, `round ${round}: one run per interval for the two nodes`).toEqual(times);
    }
  });

  it('a restart keeps one row per sweep, swept at start as before and due an interval later', async () => {
    await fresh();
    const first = await node();
    await settled(first);
    // The audit sweep as an earlier version scheduled it: one row per interval, pending.
    const legacy = Math.floor(clock.now() / HOUR) + 5;
    await sql`insert into sb_jobs (id, kind, tenant, payload, status, due_at, attempts, max_attempts, created_at, updated_at)
      values (${`audsweep_${legacy}`}, 'audit.sweep', '', '{}', 'pending', ${legacy * HOUR}, 0, 10, ${clock.now()}, ${clock.now()})`.execute(
      first.server.storage.db,
    );
    await first.close();
    clock.advance(60_000);

    const second = await node();
    const third = await node();
    await settled(second, third);
    const all = await rows(second);
    expect(all.find((r) => r.id.startsWith('audsweep_'))?.status, 'the earlier schedule cancelled').toBe('cancelled');
    const after = all.filter((r) => r.status !== 'cancelled');
    expect(after.map((r) => r.id)).toEqual(SWEEPS);
    // Swept again at the restart, so the next run is an interval after it.
    expect(after.find((r) => r.id === 'notifications.sweep')?.due_at).toBe(clock.now() + HOUR);
  });
});
