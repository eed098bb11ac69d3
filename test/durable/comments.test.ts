import { configSchema } from '@switchboard/server';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Comment, Thread } from '../../packages/client/src/comments.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, pushes, reply, STORES, startDurableServer, waitPush } from './helpers.js';

/**
 * Comment threads over the real HTTP API and real WebSockets, on SQLite and on PostgreSQL:
 * threads and replies with a gap-free `seq`, idempotent creates, edit and delete (tombstones)
 * by the author or the backend, resolve / reopen, filters and cursors, live pushes on
 * `comments:{channel}` for exactly who may subscribe to the channel, mention notifications,
 * and bad input refused with its code while nothing is written.
 */

const WRITER = ['subscribe', 'comment'];
const TABLES = ['sb_comment_threads', 'sb_comment_thread_meta', 'sb_comments', 'sb_notifications'] as const;

describe.each(STORES)('comment threads on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const connect = async (user: string, caps: Record<string, string[]>, tenant = 'acme') => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, tenant, caps }));
    open.push(c);
    return c;
  };
  const counts = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const t of TABLES) {
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(t)}`.execute(s.server.storage.db);
      out[t] = Number(rows[0]?.n);
    }
    return out;
  };
  const createThread = async (channel: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<Thread> => {
    const res = await s.api('POST', `/channels/${channel}/threads`, { body: { userId: 'bob', body: 'first', ...body }, ...(headers ? { headers } : {}) });
    expect(res.status, res.text).toBe(201);
    return (res.body as { thread: Thread }).thread;
  };

  beforeAll(async () => {
    const { namespaces } = configSchema.parse({});
    s = await startDurableServer(store, {
      // Threads also on personal channels, and a namespace with its own limits and reactions.
      namespaces: { ...namespaces, user: { ...namespaces['user'], comments: true }, forms: { comments: { maxBodyChars: 20, reactions: ['👍', '🎉'] } } },
      comments: {
        maxBodyChars: 100,
        maxMentions: 3,
        maxMetadataBytes: 200,
        maxMetadataKeys: 4,
        maxMetadataDepth: 2,
        maxCommentsPerThread: 5,
        pageSize: 10,
      },
    });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('the backend starts a thread and reads it back with every field', async () => {
    const t = await createThread('project:1', {
      body: 'Is this right?',
      mentions: ['ann', 'ann'],
      metadata: { field: 'title', n: 2 },
      respondBy: 4_000_000_000_000,
    });
    const res = await s.api('GET', `/threads/${t.id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      id: t.id,
      channel: 'project:1',
      metadata: { field: 'title', n: 2 },
      resolved: false,
      resolvedAt: null,
      resolvedBy: null,
      createdBy: 'bob',
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      respondBy: 4_000_000_000_000,
      commentCount: 1,
      comments: [
        {
          id: expect.stringMatching(/^c_/),
          threadId: t.id,
          seq: 1,
          userId: 'bob',
          body: 'Is this right?',
          mentions: ['ann'],
          createdAt: expect.any(Number),
          editedAt: null,
          deletedAt: null,
          reactions: [],
        },
      ],
    });
  });

  it('lists threads of a channel newest first, filtered by resolved and metadata, with cursors', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createThread('project:2', { metadata: { field: i % 2 ? 'odd' : 'even', i } })).id);
    await createThread('project:3', { metadata: { field: 'odd' } });
    expect((await s.api('PATCH', `/threads/${ids[1]}`, { body: { userId: 'ann', resolved: true } })).status).toBe(200);
    const list = async (q: string) => {
      const res = await s.api('GET', `/channels/project:2/threads${q}`);
      expect(res.status, res.text).toBe(200);
      return res.body as { threads: Thread[]; nextCursor: string | null };
    };
    expect((await list('')).threads.map((t) => t.id)).toEqual([...ids].reverse());
    expect((await list('?resolved=true')).threads.map((t) => t.id)).toEqual([ids[1]]);
    expect((await list('?resolved=false')).threads).toHaveLength(4);
    const odd = encodeURIComponent(JSON.stringify({ field: 'odd' }));
    expect((await list(`?metadata=${odd}`)).threads.map((t) => t.id)).toEqual([ids[3], ids[1]]);
    const both = encodeURIComponent(JSON.stringify({ field: 'odd', i: 3 }));
    expect((await list(`?metadata=${both}`)).threads.map((t) => t.id)).toEqual([ids[3]]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { threads: Thread[]; nextCursor: string | null } = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.threads.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const resolved = (await list('?resolved=true')).threads[0] as Thread;
    expect(resolved).toMatchObject({ resolved: true, resolvedBy: 'ann', resolvedAt: expect.any(Number) });
    expectApiError(await s.api('GET', '/channels/project:2/threads?metadata=nope'), 400, 107, /metadata/);
  });

  it('a client writes threads and replies as itself, and every watcher gets each change in order', async () => {
    const ann = await connect('ann', { 'project:10': WRITER });
    const watcher = await connect('watch', { 'project:10': ['subscribe'] });
    expect((await watcher.call('subscribe', { channel: 'comments:project:10' })).error).toBeUndefined();
    const { thread } = reply<{ thread: Thread }>(await ann.call('comments.create_thread', { channel: 'project:10', body: 'hello', metadata: { k: 'v' } }));
    expect(thread).toMatchObject({ channel: 'project:10', createdBy: 'ann', commentCount: 1, metadata: { k: 'v' } });
    const { comment } = reply<{ comment: Comment }>(await ann.call('comments.reply', { threadId: thread.id, body: 'more' }));
    expect(comment).toMatchObject({ seq: 2, userId: 'ann', body: 'more' });
    const edited = reply<{ comment: Comment }>(await ann.call('comments.edit', { threadId: thread.id, commentId: comment.id, body: 'better' })).comment;
    expect(edited).toMatchObject({ body: 'better', editedAt: expect.any(Number) });
    const deleted = reply<{ comment: Comment }>(await ann.call('comments.delete', { threadId: thread.id, commentId: comment.id })).comment;
    expect(deleted).toMatchObject({ body: '', mentions: [], deletedAt: expect.any(Number), seq: 2 });
    reply(await ann.call('comments.resolve', { threadId: thread.id }));
    reply(await ann.call('comments.reopen', { threadId: thread.id }));
    reply(await ann.call('comments.typing', { threadId: thread.id }));
    await waitPush(watcher, 'comments:project:10', (d) => d['kind'] === 'typing');
    const kinds = watcher.pushes('pub', 'comments:project:10').map((f) => {
      const d = f['data'] as Record<string, unknown>;
      return `${d['kind']}:${d['action'] ?? d['userId']}`;
    });
    expect(kinds).toEqual(['thread:created', 'comment:created', 'comment:edited', 'comment:deleted', 'thread:resolved', 'thread:reopened', 'typing:ann']);
    // The tombstone stays in the thread, in its place.
    const got = reply<Thread>(await watcher.call('comments.get', { threadId: thread.id }));
    expect(got.comments.map((c) => [c.seq, c.body, c.deletedAt !== null])).toEqual([
      [1, 'hello', false],
      [2, '', true],
    ]);
    expect(got.resolved).toBe(false);
  });

  it('numbers the comments of a thread 1, 2, 3… without gaps under concurrent replies from clients and HTTP', async () => {
    const big = await startDurableServer(store, { comments: { maxCommentsPerThread: 1000 } });
    try {
      const t = await (async () => {
        const res = await big.api('POST', '/channels/project:20/threads', { body: { userId: 'bob', body: 'start' } });
        return (res.body as { thread: Thread }).thread;
      })();
      const clients = await Promise.all(
        ['a', 'b', 'c', 'd'].map(async (u) => RawClient.connect(big.url, await big.token({ sub: u, caps: { 'project:*': WRITER } }))),
      );
      try {
        const writes: Array<Promise<unknown>> = [];
        for (let i = 0; i < 20; i++) {
          for (const c of clients) writes.push(c.call('comments.reply', { threadId: t.id, body: `ws ${i}` }, 20_000).then(reply));
          writes.push(big.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'http', body: `http ${i}` } }).then((r) => expect(r.status).toBe(201)));
        }
        await Promise.all(writes);
      } finally {
        for (const c of clients) c.close();
      }
      const res = await big.api('GET', `/threads/${t.id}`);
      const thread = res.body as unknown as Thread;
      expect(thread.commentCount).toBe(101);
      expect(thread.comments.map((c) => c.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    } finally {
      await big.stop();
    }
  });

  it('a retried create with the same idempotency key creates once, over HTTP and over the WebSocket', async () => {
    const before = await counts();
    const first = await s.api('POST', '/channels/project:30/threads', { body: { userId: 'bob', body: 'once' }, headers: { 'idempotency-key': 'k-1' } });
    const again = await s.api('POST', '/channels/project:30/threads', { body: { userId: 'bob', body: 'once' }, headers: { 'idempotency-key': 'k-1' } });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    const id = (first.body as { thread: Thread }).thread.id;
    expect(again.body).toMatchObject({ deduplicated: true, thread: { id } });
    const r1 = await s.api('POST', `/threads/${id}/comments`, { body: { userId: 'ann', body: 'r' }, headers: { 'idempotency-key': 'k-2' } });
    const r2 = await s.api('POST', `/threads/${id}/comments`, { body: { userId: 'ann', body: 'r' }, headers: { 'idempotency-key': 'k-2' } });
    expect([r1.status, r2.status]).toEqual([201, 200]);
    expect((r2.body as { comment: Comment }).comment.id).toBe((r1.body as { comment: Comment }).comment.id);
    const ann = await connect('ann', { 'project:30': WRITER });
    const c1 = reply<{ comment: Comment }>(await ann.call('comments.reply', { threadId: id, body: 'x', idempotencyKey: 'k-3' }));
    const c2 = reply<{ comment: Comment; deduplicated?: true }>(await ann.call('comments.reply', { threadId: id, body: 'x', idempotencyKey: 'k-3' }));
    expect(c2).toMatchObject({ deduplicated: true, comment: { id: c1.comment.id } });
    const t1 = reply<{ thread: Thread }>(await ann.call('comments.create_thread', { channel: 'project:30', body: 't', idempotencyKey: 'k-1' }));
    expect(t1.thread.id).not.toBe(id); // a client's keys are its own, apart from the backend's
    const after = await counts();
    expect(after['sb_comment_threads'] - before['sb_comment_threads']).toBe(2);
    expect(after['sb_comments'] - before['sb_comments']).toBe(4);
  });

  it('only the author (or the backend) edits and deletes a comment; a tombstone cannot be edited', async () => {
    const t = await createThread('project:40', { body: 'by bob' });
    const cid = (t.comments[0] as Comment).id;
    const ann = await connect('ann', { 'project:40': WRITER });
    expect((await ann.call('comments.edit', { threadId: t.id, commentId: cid, body: 'mine now' })).error?.code).toBe(103);
    expect((await ann.call('comments.delete', { threadId: t.id, commentId: cid })).error?.code).toBe(103);
    expectApiError(await s.api('PATCH', `/threads/${t.id}/comments/${cid}`, { body: { userId: 'ann', body: 'x' } }), 403, 103);
    expectApiError(await s.api('DELETE', `/threads/${t.id}/comments/${cid}?userId=ann`), 403, 103);
    const byBackend = await s.api('PATCH', `/threads/${t.id}/comments/${cid}`, { body: { body: 'moderated' } });
    expect(byBackend.status, byBackend.text).toBe(200);
    expect(byBackend.body).toMatchObject({ body: 'moderated', userId: 'bob' });
    const del = await s.api('DELETE', `/threads/${t.id}/comments/${cid}?userId=bob`);
    expect(del.body).toMatchObject({ body: '', deletedAt: expect.any(Number) });
    const again = await s.api('DELETE', `/threads/${t.id}/comments/${cid}`);
    expect(again.body).toMatchObject({ deletedAt: (del.body as unknown as Comment).deletedAt });
    expectApiError(await s.api('PATCH', `/threads/${t.id}/comments/${cid}`, { body: { body: 'revive' } }), 409, 132);
    // A comment id under another thread is not found.
    const other = await createThread('project:40', {});
    expectApiError(await s.api('PATCH', `/threads/${other.id}/comments/${cid}`, { body: { body: 'x' } }), 404, 117);
  });

  it('reading needs subscribe on the channel, writing also the comment capability; comments are off outside their namespaces', async () => {
    const t = await createThread('project:50', {});
    const reader = await connect('reader', { 'project:50': ['subscribe'] });
    const outsider = await connect('outsider', { 'project:51': WRITER });
    expect(reply<{ threads: Thread[] }>(await reader.call('comments.list', { channel: 'project:50' })).threads.map((x) => x.id)).toEqual([t.id]);
    expect((await reader.call('comments.create_thread', { channel: 'project:50', body: 'no' })).error?.code).toBe(103);
    expect((await reader.call('comments.reply', { threadId: t.id, body: 'no' })).error?.code).toBe(103);
    expect((await reader.call('comments.resolve', { threadId: t.id })).error?.code).toBe(103);
    expect((await outsider.call('comments.list', { channel: 'project:50' })).error?.code).toBe(103);
    expect((await outsider.call('comments.get', { threadId: t.id })).error?.code).toBe(117);
    expect((await outsider.call('comments.reply', { threadId: t.id, body: 'no' })).error?.code).toBe(117);
    expect((await outsider.call('subscribe', { channel: 'comments:project:50' })).error?.code).toBe(103);
    expect((await outsider.call('subscribe', { channel: 'comments:comments:project:51' })).error?.code).toBe(103);
    expect((await outsider.call('history', { channel: 'comments:project:50' })).error?.code).toBe(108);
    expect((await outsider.call('presence', { channel: 'comments:project:50' })).error?.code).toBe(108);
    const chatter = await connect('chatter', { 'chat:*': ['subscribe', 'comment'] });
    expect((await chatter.call('comments.create_thread', { channel: 'chat:1', body: 'no' })).error?.code).toBe(108);
    expect((await chatter.call('comments.list', { channel: 'nope:1' })).error?.code).toBe(102);
    expectApiError(await s.api('POST', '/channels/chat:1/threads', { body: { userId: 'bob', body: 'no' } }), 422, 108);
    // The owner of a personal channel comments on it without a capability (here `user` has comments on).
    const own = await connect('me', {});
    reply(await own.call('comments.create_thread', { channel: 'user:me', body: 'note to self' }));
    expect((await own.call('comments.list', { channel: 'user:someone' })).error?.code).toBe(103);
  });

  it('notifies newly mentioned users once, never the author, and an edit only the users it adds', async () => {
    const ann = await s.device('m-ann');
    const cat = await s.device('m-cat');
    const t = await createThread('project:60', { userId: 'm-bob', body: 'hi @ann', mentions: ['m-ann', 'm-bob'] });
    const n = await waitPush(ann, 'user:m-ann', (d) => d['kind'] === 'notification');
    expect((n['data'] as { notification: Record<string, unknown> }).notification).toMatchObject({
      type: 'mention',
      actor: { id: 'm-bob' },
      data: { channel: 'project:60', threadId: t.id, commentId: (t.comments[0] as Comment).id },
    });
    const list = await s.api('GET', '/notifications?user=m-bob');
    expect((list.body as { notifications: unknown[] }).notifications).toEqual([]);
    const cid = (t.comments[0] as Comment).id;
    await s.api('PATCH', `/threads/${t.id}/comments/${cid}`, { body: { body: 'hi @ann @cat', mentions: ['m-ann', 'm-cat'] } });
    await waitPush(cat, 'user:m-cat', (d) => d['kind'] === 'notification');
    const annList = await s.api('GET', '/notifications?user=m-ann');
    expect((annList.body as { notifications: Array<{ count: number }> }).notifications.map((x) => x.count)).toEqual([1]);
    expect(pushes(ann, 'user:m-ann', 'notification')).toHaveLength(1);
  });

  it('refuses bad input with its code and writes nothing', async () => {
    const t = await createThread('project:70', {});
    const cid = (t.comments[0] as Comment).id;
    const ann = await connect('ann', { 'project:70': WRITER });
    const before = await counts();
    const post = (body: Record<string, unknown>) => s.api('POST', '/channels/project:70/threads', { body: { userId: 'bob', body: 'x', ...body } });
    expectApiError(await post({ body: 'x'.repeat(101) }), 413, 114, /100 characters/);
    expectApiError(await post({ body: '   ' }), 400, 107);
    expectApiError(await post({ mentions: ['a', 'b', 'c', 'd'] }), 422, 106);
    expectApiError(await post({ metadata: { big: 'x'.repeat(300) } }), 413, 114);
    expectApiError(await post({ metadata: { a: 1, b: 2, c: 3, d: 4, e: 5 } }), 422, 106);
    expectApiError(await post({ metadata: { a: { b: { c: 1 } } } }), 400, 107);
    expectApiError(await post({ metadata: [1] }), 400, 107);
    expectApiError(await post({ userId: 'has space' }), 400, 107);
    expectApiError(await s.api('POST', '/channels/project:70/threads', { body: { body: 'x' } }), 400, 107);
    expectApiError(await s.api('POST', '/threads/t_0000000000000000/comments', { body: { userId: 'bob', body: 'x' } }), 404, 117);
    expectApiError(await s.api('POST', '/threads/nope/comments', { body: { userId: 'bob', body: 'x' } }), 400, 107);
    expectApiError(await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'bob', body: 'x'.repeat(101) } }), 413, 114);
    expectApiError(await s.api('PATCH', `/threads/${t.id}/comments/${cid}`, { body: { body: 'x', mentions: ['a', 'b', 'c', 'd'] } }), 422, 106);
    expectApiError(await s.api('PATCH', `/threads/${t.id}`, { body: { metadata: { a: { b: { c: 1 } } } } }), 400, 107);
    expect((await ann.call('comments.create_thread', { channel: 'project:70', body: 'x'.repeat(101) })).error?.code).toBe(114);
    expect((await ann.call('comments.create_thread', { channel: 'project:70', body: 'x', metadata: { a: { b: { c: 1 } } } })).error?.code).toBe(107);
    expect((await ann.call('comments.reply', { threadId: t.id, body: 'x', mentions: ['a', 'b', 'c', 'd'] })).error?.code).toBe(106);
    expect((await ann.call('comments.reply', { threadId: t.id, body: 'x', userId: 'bob' })).error?.code).toBe(107);
    expect((await ann.call('comments.reply', { threadId: 't_0000000000000000', body: 'x' })).error?.code).toBe(117);
    expect(await counts()).toEqual(before);
  });

  it("a namespace's comments option sets its own limits and reactions; a namespace without it has no threads", async () => {
    const before = await counts();
    expectApiError(await s.api('POST', '/channels/forms:1/threads', { body: { userId: 'bob', body: 'x'.repeat(21) } }), 413, 114, /20 characters/);
    expectApiError(await s.api('POST', '/channels/chat:1/threads', { body: { userId: 'bob', body: 'x' } }), 422, 108, /off in the "chat" namespace/);
    expect(await counts()).toEqual(before);
    const t = await createThread('forms:1', { body: 'x'.repeat(20) });
    const cid = (t.comments[0] as Comment).id;
    const react = (reaction: string) => s.api('PUT', `/threads/${t.id}/comments/${cid}/reactions/${encodeURIComponent(reaction)}?userId=ann`);
    expectApiError(await react('like'), 400, 107, /👍, 🎉/);
    expect((await react('🎉')).status).toBe(200);
    // The other namespaces keep the server-wide settings.
    const p = await createThread('project:71', { body: 'x'.repeat(100) });
    const pid = (p.comments[0] as Comment).id;
    expectApiError(await s.api('PUT', `/threads/${p.id}/comments/${pid}/reactions/${encodeURIComponent('🎉')}?userId=ann`), 400, 107);
    expect((await s.api('PUT', `/threads/${p.id}/comments/${pid}/reactions/like?userId=ann`)).status).toBe(200);
  });

  it('a thread holds at most maxCommentsPerThread comments', async () => {
    const t = await createThread('project:80', {});
    for (let i = 2; i <= 5; i++) expect((await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'bob', body: `${i}` } })).status).toBe(201);
    const before = await counts();
    expectApiError(await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'bob', body: 'six' } }), 422, 106, /at most 5/);
    expect(await counts()).toEqual(before);
    expect(((await s.api('GET', `/threads/${t.id}`)).body as unknown as Thread).commentCount).toBe(5);
  });

  it('replies arriving together (appended in one transaction) fill the thread up to its cap in order; a refused key is given back', async () => {
    const t = await createThread('project:81', {});
    const before = await counts();
    const post = (i: number, key: string) =>
      s.api('POST', `/threads/${t.id}/comments`, { body: { userId: `u${i}`, body: `r${i}` }, headers: { 'idempotency-key': key } });
    const answers = await Promise.all([...Array.from({ length: 10 }, (_, i) => post(i, `cap-${i}`)), post(0, 'cap-0')]);
    const created = answers.filter((r) => r.status === 201);
    expect(created).toHaveLength(4);
    expect(created.map((r) => (r.body as { comment: Comment }).comment.seq).sort()).toEqual([2, 3, 4, 5]);
    for (const r of answers.filter((a) => a.status !== 201 && a.status !== 200)) expectApiError(r, 422, 106, /at most 5/);
    // The repeated key answered once as created, and otherwise as that same comment or as full.
    const zero = answers.filter((_, i) => i === 0 || i === 10).filter((r) => r.status !== 422);
    expect(new Set(zero.map((r) => (r.body as { comment: Comment }).comment.id)).size).toBeLessThanOrEqual(1);
    expect((await counts())['sb_comments'] - before['sb_comments']).toBe(4);
    // A key refused for the cap was given back: its retry is refused for the cap again, not "in progress".
    const refused = answers.findIndex((r, i) => i < 10 && r.status === 422);
    expectApiError(await post(refused, `cap-${refused}`), 422, 106, /at most 5/);
  });

  it("a tenant never reaches another tenant's threads: the same 404 as an id that does not exist", async () => {
    const t = await createThread('project:90', { body: 'acme secret', metadata: { m: 'acme secret meta' } });
    const cid = (t.comments[0] as Comment).id;
    const other = { key: s.tenantKeys['other'] as string };
    expectApiError(await s.api('GET', `/threads/${t.id}`, other), 404, 117);
    expectApiError(await s.api('PATCH', `/threads/${t.id}`, { ...other, body: { resolved: true } }), 404, 117);
    expectApiError(await s.api('DELETE', `/threads/${t.id}`, other), 404, 117);
    expectApiError(await s.api('POST', `/threads/${t.id}/comments`, { ...other, body: { userId: 'x', body: 'x' } }), 404, 117);
    expectApiError(await s.api('PATCH', `/threads/${t.id}/comments/${cid}`, { ...other, body: { body: 'x' } }), 404, 117);
    expectApiError(await s.api('DELETE', `/threads/${t.id}/comments/${cid}`, other), 404, 117);
    const list = await s.api('GET', '/channels/project:90/threads', other);
    expect(list.body).toEqual({ threads: [], nextCursor: null });
    const spy = await connect('spy', { 'project:*': WRITER }, 'other');
    expect((await spy.call('comments.get', { threadId: t.id })).error?.code).toBe(117);
    expect(reply<{ threads: Thread[] }>(await spy.call('comments.list', { channel: 'project:90' })).threads).toEqual([]);
    expect((await spy.call('comments.reply', { threadId: t.id, body: 'x' })).error?.code).toBe(117);
    // The admin key acts in the tenant its header names, and needs one.
    expectApiError(await s.api('GET', `/threads/${t.id}`, { key: s.apiKey }), 400, 107);
    expect((await s.api('GET', `/threads/${t.id}`, { key: s.apiKey, tenant: 'acme' })).status).toBe(200);
    expectApiError(await s.api('GET', `/threads/${t.id}`, { key: s.apiKey, tenant: 'other' }), 404, 117);
  });

  it('deletes a thread with its comments', async () => {
    const t = await createThread('project:95', {});
    await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'bob', body: 'two' } });
    const watcher = await connect('w95', { 'project:95': ['subscribe'] });
    reply(await watcher.call('subscribe', { channel: 'comments:project:95' }));
    const res = await s.api('DELETE', `/threads/${t.id}`);
    expect(res.body).toMatchObject({ id: t.id, commentCount: 2 });
    await waitPush(watcher, 'comments:project:95', (d) => d['kind'] === 'thread' && d['action'] === 'deleted');
    expectApiError(await s.api('GET', `/threads/${t.id}`), 404, 117);
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from sb_comments where thread_id = ${t.id}`.execute(s.server.storage.db);
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it('a thread deleted after the node remembered its channel: replies and reactions answer 404 and push nothing to the old channel', async () => {
    const t = await createThread('project:96', {});
    const cid = t.comments[0]?.id as string;
    const watcher = await connect('w96', { 'project:96': ['subscribe'] });
    reply(await watcher.call('subscribe', { channel: 'comments:project:96' }));
    const writer = await connect('a96', { 'project:96': WRITER });
    // The node now knows the thread's channel (a reply and a reaction went through it).
    reply(await writer.call('comments.reply', { threadId: t.id, body: 'before' }));
    reply(await writer.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'like', on: true }));
    expect((await s.api('DELETE', `/threads/${t.id}`)).status).toBe(200);
    await waitPush(watcher, 'comments:project:96', (d) => d['kind'] === 'thread' && d['action'] === 'deleted');
    expect((await writer.call('comments.reply', { threadId: t.id, body: 'after' })).error).toMatchObject({ code: 117 });
    expect((await writer.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'love', on: true })).error).toMatchObject({ code: 117 });
    expectApiError(await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'bob', body: 'after' } }), 404, 117);
    // A later thread's push on the same channel comes after anything the refused writes could have pushed.
    const marker = await createThread('project:96', { body: 'marker' });
    await waitPush(watcher, 'comments:project:96', (d) => d['kind'] === 'thread' && (d['thread'] as Thread).id === marker.id);
    const seen = watcher.pushes('pub', 'comments:project:96').map((f) => f['data'] as Record<string, unknown>);
    const deletedAt = seen.findIndex((d) => d['kind'] === 'thread' && d['action'] === 'deleted');
    expect(seen.slice(deletedAt + 1).map((d) => d['kind'])).toEqual(['thread']);
    expect(seen.filter((d) => d['kind'] === 'comment').map((d) => (d['comment'] as Comment).body)).toEqual(['before']);
  });
});

describe('comment metrics', () => {
  it('counts committed writes by operation, reactions and receipts by outcome, at /metrics', async () => {
    const s = await startDurableServer('sqlite');
    try {
      const metric = async (name: string, label: string): Promise<number> => {
        const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
        return line === undefined ? 0 : Number(line.split(' ').at(-1));
      };
      const res = await s.api('POST', '/channels/project:1/threads', { body: { userId: 'bob', body: 'one' }, headers: { 'idempotency-key': 'm1' } });
      await s.api('POST', '/channels/project:1/threads', { body: { userId: 'bob', body: 'one' }, headers: { 'idempotency-key': 'm1' } });
      const t = (res.body as { thread: Thread }).thread;
      const cid = (t.comments[0] as Comment).id;
      await s.api('POST', `/threads/${t.id}/comments`, { body: { userId: 'ann', body: 'two' } });
      await s.api('PUT', `/threads/${t.id}/comments/${cid}/reactions/like?userId=ann`);
      await s.api('PUT', `/threads/${t.id}/comments/${cid}/reactions/like?userId=ann`);
      await s.api('PUT', `/threads/${t.id}/read`, { body: { userId: 'ann', commentId: cid } });
      await s.api('PATCH', `/threads/${t.id}`, { body: { resolved: true } });
      expect(await metric('switchboard_comment_writes_total', 'op="thread"')).toBe(1);
      expect(await metric('switchboard_comment_writes_total', 'op="reply"')).toBe(1);
      expect(await metric('switchboard_comment_writes_total', 'op="resolve"')).toBe(1);
      expect(await metric('switchboard_comment_reaction_writes_total', 'outcome="changed"')).toBe(1);
      expect(await metric('switchboard_comment_reaction_writes_total', 'outcome="unchanged"')).toBe(1);
      expect(await metric('switchboard_comment_receipt_writes_total', 'outcome="moved"')).toBe(1);
    } finally {
      await s.stop();
    }
  });
});
