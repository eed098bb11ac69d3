import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Thread } from '../../packages/client/src/comments.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, reply, STORES, startDurableServer } from './helpers.js';

/**
 * Notifications of comment threads, on SQLite and on PostgreSQL: authors, repliers and
 * mentioned users are subscribed to a thread and get one grouped `reply` notification for
 * its replies (mentioned users get the `mention` instead), until they unsubscribe.
 */

interface N {
  type: string;
  count: number;
  groupKey: string;
  data: { threadId: string };
}

describe.each(STORES)('comment notifications on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const inbox = async (user: string): Promise<N[]> => {
    const res = await s.api('GET', `/notifications?user=${user}`);
    expect(res.status, res.text).toBe(200);
    return (res.body as { notifications: N[] }).notifications;
  };
  const summary = async (user: string) => (await inbox(user)).map((n) => `${n.type}×${n.count}`).sort();
  const replyAs = (threadId: string, userId: string, mentions: string[] = []) =>
    s.api('POST', `/threads/${threadId}/comments`, { body: { userId, body: `from ${userId}`, mentions } }).then((r) => expect(r.status, r.text).toBe(201));

  beforeAll(async () => {
    s = await startDurableServer(store);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('authors, repliers and mentioned users get one grouped reply notification per thread, never for their own reply', async () => {
    const res = await s.api('POST', '/channels/project:1/threads', { body: { userId: 'n-bob', body: 'start' } });
    const t = (res.body as { thread: Thread }).thread;
    await replyAs(t.id, 'n-ann', ['n-cat']);
    expect(await summary('n-bob')).toEqual(['reply×1']);
    expect(await summary('n-ann')).toEqual([]);
    expect(await summary('n-cat')).toEqual(['mention×1']);
    await replyAs(t.id, 'n-dan');
    expect(await summary('n-bob')).toEqual(['reply×2']);
    expect(await summary('n-ann')).toEqual(['reply×1']);
    expect(await summary('n-cat')).toEqual(['mention×1', 'reply×1']);
    const bob = await inbox('n-bob');
    expect(bob[0]).toMatchObject({ groupKey: `comments:${t.id}:reply`, data: { threadId: t.id } });
    expect(await summary('n-dan')).toEqual([]);
  });

  it('an unsubscribed user gets no more reply notifications, also after writing in the thread again, until subscribing', async () => {
    const res = await s.api('POST', '/channels/project:2/threads', { body: { userId: 'u-bob', body: 'start' } });
    const t = (res.body as { thread: Thread }).thread;
    await replyAs(t.id, 'u-ann');
    const ann = await RawClient.connect(s.url, await s.token({ sub: 'u-ann', caps: { 'project:*': ['subscribe', 'comment'] } }));
    open.push(ann);
    reply(await ann.call('comments.unsubscribe_thread', { threadId: t.id }));
    await replyAs(t.id, 'u-eve');
    expect(await summary('u-ann')).toEqual([]);
    expect(await summary('u-bob')).toEqual(['reply×2']);
    reply(await ann.call('comments.reply', { threadId: t.id, body: 'still here' }));
    await replyAs(t.id, 'u-eve');
    expect(await summary('u-ann')).toEqual([]);
    reply(await ann.call('comments.subscribe_thread', { threadId: t.id }));
    await replyAs(t.id, 'u-eve');
    expect(await summary('u-ann')).toEqual(['reply×1']);
    // Another tenant's thread is not found.
    const spy = await RawClient.connect(s.url, await s.token({ sub: 'spy', tenant: 'other', caps: { 'project:*': ['subscribe', 'comment'] } }));
    open.push(spy);
    expect((await spy.call('comments.subscribe_thread', { threadId: t.id })).error?.code).toBe(117);
  });
});
