import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Comment, ReadReceipt, Thread } from '../../packages/client/src/comments.js';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, reply, STORES, startDurableServer } from './helpers.js';

/**
 * Read receipts of comment threads, on SQLite and on PostgreSQL: a receipt only moves
 * forward (also when requests race), unread counts per user in thread lists (the same
 * numbers on both stores), receipt pushes that end at the latest receipt, and refusals that
 * write nothing.
 */

const WRITER = ['subscribe', 'comment'];

describe.each(STORES)('comment read receipts on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const connect = async (user: string, caps: Record<string, string[]> = { 'project:*': WRITER }) => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, caps }));
    open.push(c);
    return c;
  };
  /** A thread by bob on `channel` with `n` comments, alternately by bob and ann (bob first). */
  const thread = async (channel: string, n: number): Promise<{ t: Thread; ids: string[] }> => {
    const res = await s.api('POST', `/channels/${channel}/threads`, { body: { userId: 'bob', body: 'c1' } });
    const t = (res.body as { thread: Thread }).thread;
    const ids = [(t.comments[0] as Comment).id];
    for (let i = 2; i <= n; i++) {
      const r = await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: i % 2 ? 'bob' : 'ann', body: `c${i}` } });
      ids.push((r.body as { comment: Comment }).comment.id);
    }
    return { t, ids };
  };
  const receiptRows = async (): Promise<number> => {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from sb_comment_receipts`.execute(s.server.storage.db);
    return Number(rows[0]?.n);
  };

  beforeAll(async () => {
    s = await startDurableServer(store);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('a receipt never moves back: marking comment 3 after comment 5 stays at 5, over HTTP and the WebSocket', async () => {
    const { t, ids } = await thread('project:1', 6);
    const five = await s.api('PUT', `/threads/${t.id}/read`, { body: { userId: 'ann', commentId: ids[4] } });
    expect(five.status, five.text).toBe(200);
    expect(five.body).toEqual({ userId: 'ann', commentId: ids[4], seq: 5, readAt: expect.any(Number) });
    const three = await s.api('PUT', `/threads/${t.id}/read`, { body: { userId: 'ann', commentId: ids[2] } });
    expect(three.body).toEqual(five.body);
    const cat = await connect('cat');
    const r = reply<{ receipt: ReadReceipt }>(await cat.call('comments.mark_read', { threadId: t.id, commentId: ids[5] })).receipt;
    expect(r).toMatchObject({ userId: 'cat', seq: 6 });
    expect(reply<{ receipt: ReadReceipt }>(await cat.call('comments.mark_read', { threadId: t.id, commentId: ids[0] })).receipt).toEqual(r);
    const all = await s.api('GET', `/threads/${t.id}/read`);
    expect(all.body).toEqual({ receipts: [five.body, r] });
    expect(reply<{ receipts: ReadReceipt[] }>(await cat.call('comments.receipts', { threadId: t.id })).receipts).toEqual([five.body, r]);
  });

  it('racing marks of one user over 4 connections and HTTP end at the highest comment marked', async () => {
    const { t, ids } = await thread('project:2', 12);
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect('racer')));
    const marks: Array<Promise<unknown>> = [];
    let highest = 0;
    for (let i = 0; i < 200; i++) {
      const k = (i * 37) % 11; // never the 12th
      highest = Math.max(highest, k + 1);
      const commentId = ids[k] as string;
      marks.push(
        i % 5 === 4
          ? s.api('PUT', `/threads/${t.id}/read`, { body: { userId: 'racer', commentId } }).then((res) => expect(res.status).toBe(200))
          : (conns[i % 5] as RawClient).call('comments.mark_read', { threadId: t.id, commentId }, 20_000).then(reply),
      );
    }
    await Promise.all(marks);
    const all = (await s.api('GET', `/threads/${t.id}/read`)).body as { receipts: ReadReceipt[] };
    expect(all.receipts).toEqual([{ userId: 'racer', commentId: ids[highest - 1], seq: highest, readAt: expect.any(Number) }]);
  });

  it('lists unread counts per user (comments by others after the receipt, tombstones not counted) and filters by them', async () => {
    const a = await thread('project:3', 5); // bob, ann, bob, ann, bob
    const b = await thread('project:3', 2); // bob, ann
    const c = await thread('project:3', 1); // bob
    await s.api('PUT', `/threads/${a.t.id}/read`, { body: { userId: 'ann', commentId: a.ids[1] } });
    await s.api('DELETE', `/threads/${a.t.id}/comments/${a.ids[4]}`);
    await s.api('PUT', `/threads/${c.t.id}/read`, { body: { userId: 'ann', commentId: c.ids[0] } });
    const list = async (q: string) => {
      const res = await s.api('GET', `/channels/project:3/threads?${q}`);
      expect(res.status, res.text).toBe(200);
      return (res.body as { threads: Thread[] }).threads.map((x) => [x.id, x.unread]);
    };
    // ann: a has bob's 3 unread (5 is a tombstone); b has bob's 1; c is read.
    expect(await list('forUser=ann')).toEqual([
      [c.t.id, 0],
      [b.t.id, 1],
      [a.t.id, 1],
    ]);
    // bob: ann's comments, nothing read: a 2 (2 and 4), b 1, c 0.
    expect(await list('forUser=bob')).toEqual([
      [c.t.id, 0],
      [b.t.id, 1],
      [a.t.id, 2],
    ]);
    expect(await list('forUser=ann&unread=true')).toEqual([
      [b.t.id, 1],
      [a.t.id, 1],
    ]);
    expect(await list('forUser=ann&unread=false')).toEqual([[c.t.id, 0]]);
    expect(await list('')).toEqual([
      [c.t.id, undefined],
      [b.t.id, undefined],
      [a.t.id, undefined],
    ]);
    expectApiError(await s.api('GET', '/channels/project:3/threads?unread=true'), 400, 107, /forUser/);
    // A connection's list carries its own counts.
    const ann = await connect('ann');
    const mine = reply<{ threads: Thread[] }>(await ann.call('comments.list', { channel: 'project:3', unread: true }));
    expect(mine.threads.map((x) => [x.id, x.unread])).toEqual([
      [b.t.id, 1],
      [a.t.id, 1],
    ]);
  });

  it('watchers get each user’s latest receipt; a mark that moves nothing pushes nothing', async () => {
    const { t, ids } = await thread('project:4', 10);
    const watcher = await connect('w4');
    reply(await watcher.call('subscribe', { channel: 'comments:project:4' }));
    const reader = await connect('reader4', { 'project:4': ['subscribe'] });
    for (const id of ids) reply(await reader.call('comments.mark_read', { threadId: t.id, commentId: id }));
    const receipts = () =>
      watcher
        .pushes('pub', 'comments:project:4')
        .map((f) => f['data'] as { kind: string; userId: string; seq: number })
        .filter((d) => d.kind === 'receipt');
    await eventually(() => receipts().some((r) => r.userId === 'reader4' && r.seq === 10), 5000, 'the receipt at 10');
    const seqs = receipts().map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    reply(await reader.call('comments.mark_read', { threadId: t.id, commentId: ids[2] }));
    reply(await (await connect('other4')).call('comments.mark_read', { threadId: t.id, commentId: ids[1] }));
    await eventually(() => receipts().some((r) => r.userId === 'other4'), 5000, "other4's receipt");
    expect(receipts().filter((r) => r.userId === 'reader4' && r.seq === 3)).toEqual([]);
  });

  it('refuses a comment of another thread, another tenant and an outsider, writing nothing', async () => {
    const one = await thread('project:5', 2);
    const two = await thread('project:5', 2);
    const before = await receiptRows();
    expectApiError(await s.api('PUT', `/threads/${one.t.id}/read`, { body: { userId: 'ann', commentId: two.ids[0] } }), 404, 117);
    expectApiError(
      await s.api('PUT', `/threads/${one.t.id}/read`, { body: { userId: 'ann', commentId: one.ids[0] }, key: s.tenantKeys['other'] as string }),
      404,
      117,
    );
    expectApiError(await s.api('GET', `/threads/${one.t.id}/read`, { key: s.tenantKeys['other'] as string }), 404, 117);
    expectApiError(await s.api('PUT', `/threads/${one.t.id}/read`, { body: { commentId: one.ids[0] } }), 400, 107);
    const ann = await connect('ann5');
    expect((await ann.call('comments.mark_read', { threadId: one.t.id, commentId: two.ids[1] })).error?.code).toBe(117);
    const outsider = await connect('out5', { 'project:6': WRITER });
    expect((await outsider.call('comments.mark_read', { threadId: one.t.id, commentId: one.ids[0] })).error?.code).toBe(117);
    expect(await receiptRows()).toBe(before);
  });
});
