import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Thread } from '../../packages/client/src/comments.js';
import { eventually } from '../helpers/eventually.js';
import { createTestDatabase, type DurableServer, STORES, startDurableServer, type TestDatabase } from './helpers.js';

/**
 * `respondBy` deadlines of comment threads, on SQLite and on PostgreSQL, with the server's
 * clock moved instead of waited for: a thread with no reply by another user in time gets
 * exactly one `alert` to its author, a reply by someone else (or resolving it) cancels it,
 * and a restart between the deadline and the check neither loses nor repeats it.
 */

interface N {
  type: string;
  priority: string;
  data: { threadId: string };
}

type Deadlines = { deadlines: { check(): Promise<number> } };

describe.each(STORES)('comment deadlines on %s', (store) => {
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const now = () => clock;
  let dir: string;
  let db: TestDatabase;
  const start = (interval = '0') => startDurableServer(store, { keepDataDir: dir, now, comments: { deadlineInterval: interval } }, db);
  const as = (s: DurableServer) => ({ key: s.apiKey, tenant: 'acme' });
  const alerts = async (s: DurableServer, user: string): Promise<N[]> => {
    const res = await s.api('GET', `/notifications?user=${user}`, as(s));
    expect(res.status, res.text).toBe(200);
    return (res.body as { notifications: N[] }).notifications.filter((n) => n.type === 'alert');
  };
  const thread = async (s: DurableServer, author: string, respondIn: number): Promise<Thread> => {
    const res = await s.api('POST', '/channels/project:1/threads', { ...as(s), body: { userId: author, body: 'anyone?', respondBy: clock + respondIn } });
    expect(res.status, res.text).toBe(201);
    return (res.body as { thread: Thread }).thread;
  };
  const check = (s: DurableServer) => s.server.feature<Deadlines>('comments').deadlines.check();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-deadlines-'));
    db = await createTestDatabase(store);
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one alert to the author when nobody else replied in time; the author’s own reply does not count; never twice', async () => {
    const s = await start();
    try {
      const t = await thread(s, 'd-ann', 60_000);
      await s.api('POST', `/threads/${t.id}/comments`, { ...as(s), body: { userId: 'd-ann', body: 'bump' } });
      expect(await check(s)).toBe(0);
      expect(await alerts(s, 'd-ann')).toEqual([]);
      clock += 60_000;
      expect(await check(s)).toBe(1);
      expect(await check(s)).toBe(0);
      const got = await alerts(s, 'd-ann');
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ priority: 'high', data: { threadId: t.id } });
    } finally {
      await s.close();
    }
  });

  it('a reply by someone else before the deadline cancels it, and so does resolving the thread', async () => {
    const s = await start();
    try {
      const answered = await thread(s, 'd-bob', 10_000);
      const resolved = await thread(s, 'd-bob', 10_000);
      await s.api('POST', `/threads/${answered.id}/comments`, { ...as(s), body: { userId: 'd-cat', body: 'here' } });
      await s.api('PATCH', `/threads/${resolved.id}`, { ...as(s), body: { resolved: true } });
      clock += 20_000;
      expect(await check(s)).toBe(0);
      expect(await alerts(s, 'd-bob')).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('survives a restart between the deadline and the check: reported once, by the next start', async () => {
    const first = await start();
    let t: Thread;
    try {
      t = await thread(first, 'd-dan', 5_000);
    } finally {
      await first.close();
    }
    clock += 10_000;
    const second = await start();
    try {
      const got = await alerts(second, 'd-dan');
      expect(got.map((n) => n.data.threadId)).toEqual([t.id]);
    } finally {
      await second.close();
    }
    const third = await start();
    try {
      expect(await alerts(third, 'd-dan')).toHaveLength(1);
    } finally {
      await third.close();
    }
  });

  it('the periodic check finds a missed deadline by itself', async () => {
    const s = await start('50ms');
    try {
      const t = await thread(s, 'd-eve', 1_000);
      clock += 2_000;
      await eventually(async () => (await alerts(s, 'd-eve')).length === 1, 10_000, 'the alert');
      expect((await alerts(s, 'd-eve'))[0]?.data.threadId).toBe(t.id);
    } finally {
      await s.close();
    }
  });
});
