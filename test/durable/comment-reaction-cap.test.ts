import { comments } from '@switchboard/client/comments';
import { builtinFeatures, configFor, configSchema } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Comment, ReactionCount, Thread } from '../../packages/client/src/comments.js';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { type DurableServer, reply, STORES, startDurableServer } from './helpers.js';

/**
 * `reactionUsers`: reaction pushes and answers to reaction changes list at most that many
 * users per reaction (counts stay exact, `mine` says what the acting user holds), reads keep
 * every user, and the SDK's `toggleReaction` stays exact for a user beyond the cap.
 */

const WRITER = ['subscribe', 'comment'];
type State = { reactions: ReactionCount[]; version: number; mine: string[] };
type ReactionPush = { kind: string; reactions: ReactionCount[]; version: number };

const find = (reactions: readonly ReactionCount[], reaction: string) => reactions.find((r) => r.reaction === reaction);

describe('the reactionUsers option', () => {
  const { parseConfig } = configFor(builtinFeatures());
  it('takes 0 to 1,000 users, server-wide and per namespace, and refuses the rest at load with SB_ERR_CONFIG_INVALID', () => {
    expect((parseConfig({}) as { comments: { reactionUsers: number } }).comments.reactionUsers).toBe(20);
    for (const ok of [0, 1000]) {
      expect(() => parseConfig({ comments: { reactionUsers: ok } })).not.toThrow();
      expect(() => parseConfig({ namespaces: { forms: { comments: { reactionUsers: ok } } } })).not.toThrow();
    }
    for (const bad of [-1, 1001, 2.5]) {
      expect(() => parseConfig({ comments: { reactionUsers: bad } })).toThrow(/SB_ERR_CONFIG_INVALID[\s\S]*comments\.reactionUsers/);
      expect(() => parseConfig({ namespaces: { forms: { comments: { reactionUsers: bad } } } })).toThrow(
        /SB_ERR_CONFIG_INVALID[\s\S]*namespaces\.forms\.comments/,
      );
    }
  });
});

describe.each(STORES)('reaction lists capped by reactionUsers on %s', (store) => {
  let s: DurableServer;
  const cleanup: Array<() => void> = [];
  const connect = async (user: string) => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, caps: { 'forms:*': WRITER, 'project:*': WRITER, 'quiet:*': WRITER } }));
    cleanup.push(() => c.close());
    return c;
  };
  const sdk = (user: string) => connectedClient(s.url, () => s.token({ sub: user, caps: { 'forms:*': WRITER } }), cleanup);
  const thread = async (channel: string): Promise<{ t: Thread; cid: string }> => {
    const res = await s.api('POST', `/channels/${channel}/threads`, { body: { userId: 'bob', body: 'react to me' } });
    expect(res.status, res.text).toBe(201);
    const t = (res.body as { thread: Thread }).thread;
    return { t, cid: (t.comments[0] as Comment).id };
  };
  const put = async (t: Thread, cid: string, reaction: string, user: string, on = true): Promise<State> => {
    const res = await s.api(on ? 'PUT' : 'DELETE', `/threads/${t.id}/comments/${cid}/reactions/${reaction}?userId=${user}`);
    expect(res.status, res.text).toBe(200);
    return res.body as unknown as State;
  };
  const stored = async (t: Thread, cid: string): Promise<ReactionCount[]> =>
    ((await s.api('GET', `/threads/${t.id}`)).body as unknown as Thread).comments.find((c) => c.id === cid)?.reactions ?? [];
  const newestPush = (w: RawClient, channel: string): ReactionPush | undefined =>
    w
      .pushes('pub', `comments:${channel}`)
      .map((f) => f['data'] as ReactionPush)
      .filter((d) => d.kind === 'reaction')
      .reduce<ReactionPush | undefined>((m, d) => (m === undefined || d.version > m.version ? d : m), undefined);
  const watch = async (channel: string): Promise<RawClient> => {
    const w = await connect(`watch-${channel.replace(/\W/g, '-')}`);
    reply(await w.call('subscribe', { channel: `comments:${channel}` }));
    return w;
  };

  beforeAll(async () => {
    const { namespaces } = configSchema.parse({});
    s = await startDurableServer(store, {
      namespaces: { ...namespaces, forms: { comments: { reactionUsers: 3 } }, quiet: { comments: { reactionUsers: 0 } } },
      comments: { reactionRate: 0 },
      limits: { newConnectionsPerIpPerSecond: 100_000 },
    });
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    await s?.stop();
  });

  it('pushes and answers carry exact counts and at most 3 users; mine is right beyond the cap; a read lists everyone', async () => {
    const { t, cid } = await thread('forms:1');
    const w = await watch('forms:1');
    for (const u of ['u0', 'u1', 'u2', 'u3', 'u4', 'u5']) await put(t, cid, 'like', u);
    for (const u of ['u0', 'u1', 'u2', 'u3']) await put(t, cid, 'love', u);
    // u5, beyond the cap of both reactions, over the WebSocket.
    const u5 = await connect('u5');
    const ws = reply<State>(await u5.call('comments.set_reaction', { threadId: t.id, commentId: cid, reaction: 'love', on: true }));
    expect(ws.reactions).toEqual([
      { reaction: 'like', count: 6, userIds: ['u0', 'u1', 'u2'] },
      { reaction: 'love', count: 5, userIds: ['u0', 'u1', 'u2'] },
    ]);
    expect(ws.mine).toEqual(['like', 'love']);
    // Over HTTP, a user beyond the cap giving and taking back.
    const wow = await put(t, cid, 'wow', 'u4');
    expect(wow.mine).toEqual(['like', 'wow']);
    const off = await put(t, cid, 'like', 'u4', false);
    expect(off.mine).toEqual(['wow']);
    expect(off.reactions).toEqual([
      { reaction: 'like', count: 5, userIds: ['u0', 'u1', 'u2'] },
      { reaction: 'love', count: 5, userIds: ['u0', 'u1', 'u2'] },
      { reaction: 'wow', count: 1, userIds: ['u4'] },
    ]);
    // A no-op answers too, with the user's own reactions.
    expect((await put(t, cid, 'like', 'u4', false)).mine).toEqual(['wow']);
    // Reads keep every user, in the order they gave it.
    const full = [
      { reaction: 'like', count: 5, userIds: ['u0', 'u1', 'u2', 'u3', 'u5'] },
      { reaction: 'love', count: 5, userIds: ['u0', 'u1', 'u2', 'u3', 'u5'] },
      { reaction: 'wow', count: 1, userIds: ['u4'] },
    ];
    expect(await stored(t, cid)).toEqual(full);
    const viaWs = reply<Thread>(await u5.call('comments.get', { threadId: t.id }));
    expect(viaWs.comments.find((c) => c.id === cid)?.reactions).toEqual(full);
    // The watcher's newest push is the stored state, capped.
    await eventually(() => newestPush(w, 'forms:1')?.version === off.version, 10_000, 'the push of the last change');
    expect(newestPush(w, 'forms:1')?.reactions).toEqual(off.reactions);
    for (const p of w
      .pushes('pub', 'comments:forms:1')
      .map((f) => f['data'] as ReactionPush)
      .filter((d) => d.kind === 'reaction')) {
      for (const r of p.reactions) expect(r.userIds.length).toBeLessThanOrEqual(3);
    }
  });

  it('a cap of 0 lists nobody and keeps the counts', async () => {
    const { t, cid } = await thread('quiet:1');
    const w = await watch('quiet:1');
    await put(t, cid, 'like', 'a');
    const last = await put(t, cid, 'love', 'b');
    expect(last).toEqual({
      reactions: [
        { reaction: 'like', count: 1, userIds: [] },
        { reaction: 'love', count: 1, userIds: [] },
      ],
      version: 2,
      mine: ['love'],
    });
    await eventually(() => newestPush(w, 'quiet:1')?.version === 2, 10_000, 'the push');
    expect(newestPush(w, 'quiet:1')?.reactions).toEqual(last.reactions);
    expect((await stored(t, cid)).map((r) => r.userIds)).toEqual([['a'], ['b']]);
  });

  it('toggleReaction takes off the reaction of a user beyond the cap, from its own answer and from a fresh client', async () => {
    const { t, cid } = await thread('forms:2');
    for (const u of ['p0', 'p1', 'p2', 'p3', 'p4']) await put(t, cid, 'like', u);
    const partial = (await put(t, cid, 'love', 'p0')).reactions;
    expect(find(partial, 'like')).toEqual({ reaction: 'like', count: 5, userIds: ['p0', 'p1', 'p2'] });
    // p4 has an answer of its own (giving `love`): its `mine` says it holds `like`.
    const p4 = comments(await sdk('p4'), 'forms:2').thread(t.id);
    expect((await p4.setReaction(cid, 'love', true)).mine).toEqual(['like', 'love']);
    const p4off = await p4.toggleReaction({ id: cid, reactions: partial }, 'like');
    expect(p4off.mine).toEqual(['love']);
    expect(find(p4off.reactions, 'like')?.count).toBe(4);
    // p3 never saw an answer: the SDK reads the thread before deciding.
    const p3 = comments(await sdk('p3'), 'forms:2').thread(t.id);
    const p3off = await p3.toggleReaction({ id: cid, reactions: partial }, 'like');
    expect(p3off.mine).toEqual([]);
    expect(find(p3off.reactions, 'like')?.count).toBe(3);
    // A fresh user who does not hold it, seen in a partial list: on.
    const q = comments(await sdk('q9'), 'forms:2').thread(t.id);
    expect((await q.toggleReaction({ id: cid, reactions: partial }, 'like')).mine).toEqual(['like']);
    expect(find(await stored(t, cid), 'like')?.userIds).toEqual(['p0', 'p1', 'p2', 'q9']);
  });

  it('a hot comment with 950 reactions pushes 20 users per reaction (the default), not all of them', async () => {
    const { t, cid } = await thread('project:hot');
    const w = await watch('project:hot');
    const reactions = ['like', 'love', 'laugh', 'wow', 'sad', 'angry'];
    // 200 users, each giving most of the six: 950 rows.
    const rows: Array<[string, string]> = [];
    for (let i = 0; rows.length < 950; i++) rows.push([`user-${String(i % 200).padStart(4, '0')}`, reactions[Math.floor(i / 200)] as string]);
    for (let i = 0; i < rows.length; i += 50) await Promise.all(rows.slice(i, i + 50).map(([u, r]) => put(t, cid, r, u)));
    const full = await stored(t, cid);
    expect(full.reduce((n, r) => n + r.count, 0)).toBe(950);
    await eventually(() => newestPush(w, 'project:hot')?.version === 950, 15_000, 'the push of the last change');
    const push = newestPush(w, 'project:hot') as ReactionPush;
    expect(push.reactions.map((r) => r.count)).toEqual(full.map((r) => r.count));
    expect(push.reactions.map((r) => r.userIds)).toEqual(full.map((r) => r.userIds.slice(0, 20)));
    const frame = w.raw.flatMap((text) => text.split('\n')).find((line) => line.includes('"kind":"reaction"') && line.includes('"version":950')) as string;
    // About 1.7 KB instead of 12 KB with every user listed.
    const uncapped = frame.replace(JSON.stringify(push.reactions), JSON.stringify(full));
    expect(frame.length * 5).toBeLessThan(uncapped.length);
  }, 60_000);
});
