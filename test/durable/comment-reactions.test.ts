import { SwitchboardClient } from '@switchboard/client';
import { type CommentThreads, comments, type ReactionEvent } from '@switchboard/client/comments';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Comment, ReactionCount, Thread } from '../../packages/client/src/comments.js';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, reply, STORES, startDurableServer } from './helpers.js';

/**
 * Reactions on comments, on SQLite and on PostgreSQL: one row per (comment, user, reaction)
 * by a unique key, idempotent set and unset over HTTP and the WebSocket, answers and pushes
 * read from the database (so every watcher ends at the stored counts), races from one user
 * over many connections, a thousand users at once, and refusals that write nothing.
 */

const WRITER = ['subscribe', 'comment'];
type State = { reactions: ReactionCount[]; version: number; mine: string[] };

const count = (reactions: readonly ReactionCount[], reaction: string) => reactions.find((r) => r.reaction === reaction)?.count ?? 0;
const has = (reactions: readonly ReactionCount[], reaction: string, user: string) => reactions.some((r) => r.reaction === reaction && r.userIds.includes(user));

describe.each(STORES)('comment reactions on %s', (store) => {
  let s: DurableServer;
  const open: Array<{ close(): void }> = [];
  const connect = async (user: string, caps: Record<string, string[]> = { 'project:*': WRITER }, tenant = 'acme') => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, tenant, caps }));
    open.push(c);
    return c;
  };
  const thread = async (channel: string): Promise<{ t: Thread; cid: string }> => {
    const res = await s.api('POST', `/channels/${channel}/threads`, { body: { userId: 'bob', body: 'react to me' } });
    expect(res.status, res.text).toBe(201);
    const t = (res.body as { thread: Thread }).thread;
    return { t, cid: (t.comments[0] as Comment).id };
  };
  const reactionRows = async (): Promise<number> => {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from sb_comment_reactions`.execute(s.server.storage.db);
    return Number(rows[0]?.n);
  };
  const stored = async (threadId: string, cid: string): Promise<ReactionCount[]> => {
    const res = await s.api('GET', `/threads/${threadId}`);
    return ((res.body as unknown as Thread).comments.find((c) => c.id === cid) as Comment).reactions;
  };

  beforeAll(async () => {
    s = await startDurableServer(store, {
      comments: { reactionRate: 0, reactions: ['like', 'love', '🎉'] },
      limits: { newConnectionsPerIpPerSecond: 100_000 },
    });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('PUT twice is one reaction, DELETE of an absent one changes nothing, and both answer the stored state', async () => {
    const { t, cid } = await thread('project:1');
    const path = `/threads/${t.id}/comments/${cid}/reactions`;
    const first = await s.api('PUT', `${path}/like?userId=ann`);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual({ reactions: [{ reaction: 'like', count: 1, userIds: ['ann'] }], version: 1, mine: ['like'] });
    const again = await s.api('PUT', `${path}/like?userId=ann`);
    expect(again.body).toEqual(first.body);
    await s.api('PUT', `${path}/${encodeURIComponent('🎉')}?userId=cat`);
    const absent = await s.api('DELETE', `${path}/love?userId=ann`);
    expect(absent.status).toBe(200);
    expect(absent.body).toEqual({
      reactions: [
        { reaction: 'like', count: 1, userIds: ['ann'] },
        { reaction: '🎉', count: 1, userIds: ['cat'] },
      ],
      version: 2,
      mine: ['like'],
    });
    const removed = await s.api('DELETE', `${path}/like?userId=ann`);
    expect(removed.body).toEqual({ reactions: [{ reaction: '🎉', count: 1, userIds: ['cat'] }], version: 3, mine: [] });
    expect((await s.api('DELETE', `${path}/like?userId=ann`)).body).toEqual(removed.body);
    expect(await stored(t.id, cid)).toEqual([{ reaction: '🎉', count: 1, userIds: ['cat'] }]);
    // The same over the WebSocket, as the connection's user.
    const dan = await connect('dan');
    const on = reply<State>(await dan.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'love', on: true }));
    expect(has(on.reactions, 'love', 'dan')).toBe(true);
    expect(on.mine).toEqual(['love']);
    expect(reply<State>(await dan.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'love', on: true })).version).toBe(on.version);
  });

  it('refuses an unknown reaction, a tombstone, another tenant and a missing user, writing nothing', async () => {
    const { t, cid } = await thread('project:2');
    const path = `/threads/${t.id}/comments/${cid}/reactions`;
    await s.api('PUT', `${path}/like?userId=ann`);
    const before = await reactionRows();
    expectApiError(await s.api('PUT', `${path}/thumbsup?userId=ann`), 400, 107, /reaction/);
    expectApiError(await s.api('PUT', `${path}/like`), 400, 107, /userId/);
    expectApiError(await s.api('PUT', `${path}/like?userId=ann`, { key: s.tenantKeys['other'] as string }), 404, 117);
    expectApiError(await s.api('DELETE', `${path}/like?userId=ann`, { key: s.tenantKeys['other'] as string }), 404, 117);
    expectApiError(await s.api('PUT', `/threads/${t.id}/comments/c_0000000000000000/reactions/like?userId=ann`), 404, 117);
    const ann = await connect('ann');
    expect((await ann.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'nope', on: true })).error?.code).toBe(107);
    expect((await ann.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'like', on: 'yes' })).error?.code).toBe(107);
    const reader = await connect('reader', { 'project:2': ['subscribe'] });
    expect((await reader.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'like', on: true })).error?.code).toBe(103);
    expect(await reactionRows()).toBe(before);
    // A deleted comment takes its reactions with it and takes no new ones.
    await s.api('DELETE', `/threads/${t.id}/comments/${cid}`);
    expect(await reactionRows()).toBe(before - 1);
    expectApiError(await s.api('PUT', `${path}/like?userId=ann`), 409, 132);
    expect(await reactionRows()).toBe(before - 1);
  });

  it('500 concurrent sets and unsets of one user over 5 connections and HTTP end in the state of the last one the database applied', async () => {
    const { t, cid } = await thread('project:3');
    const conns = await Promise.all([1, 2, 3, 4, 5].map(() => connect('racer')));
    const watcher = await connect('watch3');
    reply(await watcher.call('subscribe', { channel: 'comments:project:3' }));
    const answers: Array<State & { on: boolean }> = [];
    const requests: Array<Promise<void>> = [];
    for (let i = 0; i < 500; i++) {
      const on = (i * 7919) % 3 !== 0;
      const via = i % 6;
      if (via === 5) {
        requests.push(
          s.api(on ? 'PUT' : 'DELETE', `/threads/${t.id}/comments/${cid}/reactions/like?userId=racer`).then((r) => {
            expect(r.status, r.text).toBe(200);
            answers.push({ ...(r.body as unknown as State), on });
          }),
        );
      } else {
        const c = conns[via] as RawClient;
        requests.push(
          c.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'like', on }, 30_000).then((f) => {
            answers.push({ ...reply<State>(f), on });
          }),
        );
      }
    }
    await Promise.all(requests);
    expect(answers).toHaveLength(500);
    // Every answer is the state right after its own request: the user's reaction is as it asked.
    for (const a of answers) expect(has(a.reactions, 'like', 'racer')).toBe(a.on);
    const last = answers.reduce((m, a) => (a.version > m.version ? a : m));
    const final = await stored(t.id, cid);
    expect(final).toEqual(last.reactions);
    expect(count(final, 'like')).toBeLessThanOrEqual(1);
    // The watcher's newest push is the stored state.
    await eventually(
      () => {
        const pushes = watcher
          .pushes('pub', 'comments:project:3')
          .map((f) => f['data'] as Record<string, unknown>)
          .filter((d) => d['kind'] === 'reaction');
        const newest = pushes.reduce<Record<string, unknown> | null>(
          (m, d) => (m === null || (d['version'] as number) > (m['version'] as number) ? d : m),
          null,
        );
        return newest !== null && newest['version'] === last.version && JSON.stringify(newest['reactions']) === JSON.stringify(final);
      },
      10_000,
      'the watcher reaching the stored reactions',
    );
  }, 60_000);

  it('1,000 users reacting at once give a count of exactly 1,000 at every watcher, SDK and raw', async () => {
    const { t, cid } = await thread('project:4');
    const raw = await Promise.all([1, 2, 3].map((i) => connect(`w4-${i}`)));
    for (const w of raw) reply(await w.call('subscribe', { channel: 'comments:project:4' }));
    const sdkClient = new SwitchboardClient(s.url, { getToken: () => s.token({ sub: 'sdk-w4', caps: { 'project:*': WRITER } }), WebSocket });
    open.push({ close: () => sdkClient.disconnect() });
    const ready = new Promise((r) => sdkClient.once('connected', r));
    sdkClient.connect();
    await ready;
    const threads: CommentThreads = comments(sdkClient, 'project:4');
    const seen: ReactionEvent[] = [];
    threads.on('reaction', (e) => seen.push(e));
    await eventually(() => s.server.node.channels('acme').some((c) => c.channel === 'comments:project:4' && c.subscribers === 4), 5000, 'four watchers');
    // Half over HTTP for 500 users, half from 500 users' own connections, 50 at a time.
    const users = Array.from({ length: 1000 }, (_, i) => `u${i}`);
    for (let i = 0; i < users.length; i += 50) {
      await Promise.all(
        users.slice(i, i + 50).map(async (u, j) => {
          if (j % 2 === 0) {
            const r = await s.api('PUT', `/threads/${t.id}/comments/${cid}/reactions/love?userId=${u}`);
            expect(r.status, r.text).toBe(200);
            return;
          }
          const c = await RawClient.connect(s.url, await s.token({ sub: u, caps: { 'project:*': WRITER } }));
          try {
            reply(await c.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'love', on: true }));
          } finally {
            c.close();
          }
        }),
      );
    }
    const final = await stored(t.id, cid);
    expect(count(final, 'love')).toBe(1000);
    const newest = (w: RawClient) =>
      w
        .pushes('pub', 'comments:project:4')
        .map((f) => f['data'] as { kind: string; reactions: ReactionCount[]; version: number })
        .filter((d) => d.kind === 'reaction')
        .reduce((m, d) => (d.version > m.version ? d : m), { kind: '', reactions: [] as ReactionCount[], version: -1 });
    await eventually(() => raw.every((w) => count(newest(w).reactions, 'love') === 1000), 15_000, 'every raw watcher at 1,000');
    await eventually(() => count(seen.at(-1)?.reactions ?? [], 'love') === 1000, 15_000, 'the SDK watcher at 1,000');
    for (const w of raw) expect(newest(w).version).toBe(1000);
    // Conflated: fewer pushes than changes, and the SDK passed on only newer versions.
    expect(seen.length).toBeLessThan(1000);
    expect(seen.map((e) => e.version)).toEqual([...seen.map((e) => e.version)].sort((a, b) => a - b));
  });

  it('changes arriving together on a hot comment (applied in batches) each get their own version, consecutive, and show their own effect', async () => {
    const { t, cid } = await thread('project:batch');
    const path = `/threads/${t.id}/comments/${cid}/reactions`;
    const before = ((await s.api('PUT', `${path}/love?userId=u-first`)).body as unknown as State).version;
    const users = Array.from({ length: 200 }, (_, i) => `u-${i}`);
    const answers = await Promise.all(
      users.map(async (u, i) => {
        // Every third user also takes a reaction back that it never gave: a no-op inside the batch.
        if (i % 3 === 0) await s.api('DELETE', `${path}/like?userId=${u}`);
        const res = await s.api('PUT', `${path}/love?userId=${u}`);
        expect(res.status, res.text).toBe(200);
        return { user: u, ...(res.body as unknown as State) };
      }),
    );
    // Each answer says what its own user holds (the listed users are the first 20 only).
    for (const a of answers) expect(a.mine).toEqual(['love']);
    for (const a of answers) expect(a.reactions.every((r) => r.userIds.length <= 20)).toBe(true);
    // 200 changes: versions before+1 … before+200, each once.
    expect(answers.map((a) => a.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => before + 1 + i));
    const final = await stored(t.id, cid);
    expect(count(final, 'love')).toBe(201);
    expect(count(final, 'like')).toBe(0);
  });

  it('the SDK toggles by sending the intended state, and a reaction rate per user refuses with 111', async () => {
    const limited = await startDurableServer(store, { comments: { reactionRate: 3 } });
    try {
      const res = await limited.api('POST', '/channels/project:5/threads', { body: { userId: 'bob', body: 'rate me' } });
      const t = (res.body as { thread: Thread }).thread;
      const client = new SwitchboardClient(limited.url, { getToken: () => limited.token({ sub: 'toggler', caps: { 'project:*': WRITER } }), WebSocket });
      const ready = new Promise((r) => client.once('connected', r));
      client.connect();
      await ready;
      try {
        const handle = comments(client, 'project:5').thread(t.id);
        const comment = t.comments[0] as Comment;
        const on = await handle.toggleReaction(comment, 'like');
        expect(has(on.reactions, 'like', 'toggler')).toBe(true);
        // Toggling from the same (stale) view sends "on" again: no flip.
        expect(has((await handle.toggleReaction(comment, 'like')).reactions, 'like', 'toggler')).toBe(true);
        const off = await handle.toggleReaction({ id: comment.id, reactions: on.reactions }, 'like');
        expect(has(off.reactions, 'like', 'toggler')).toBe(false);
        await expect(handle.setReaction(comment.id, 'like', true)).rejects.toMatchObject({ code: 111 });
      } finally {
        client.disconnect();
      }
    } finally {
      await limited.stop();
    }
  });
});
