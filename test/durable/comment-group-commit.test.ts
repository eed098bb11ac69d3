import { configSchema } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Comment, Thread } from '../../packages/client/src/comments.js';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, pushes, reply, STORES, startDurableServer } from './helpers.js';

/**
 * `comments.groupCommit`: a busy thread appends at most once per window. A reply after a
 * quiet spell is written at once; the replies that arrive while the window is open commit
 * together when it ends, keep their order and gap-free `seq`, and reach each watcher in one
 * WebSocket message (one write), on SQLite and on PostgreSQL.
 */

const WRITER = ['subscribe', 'comment'];

describe.each(STORES)('comment group commit on %s', (store) => {
  let s: DurableServer;
  const open: RawClient[] = [];
  const connect = async (user: string, caps: Record<string, string[]>) => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, tenant: 'acme', caps }));
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    const { namespaces } = configSchema.parse({});
    // A long window, so the replies sent together are surely inside it however slow the machine.
    s = await startDurableServer(store, { namespaces, comments: { groupCommit: 1500 } });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await s?.stop();
  });

  it('gathers the replies of a busy thread into one commit and one message per watcher', async () => {
    const ann = await connect('ann', { 'project:20': WRITER });
    // One connection's commands are answered in order, so the busy thread's writers are five people.
    const writers = await Promise.all(['w1', 'w2', 'w3', 'w4', 'w5'].map((u) => connect(u, { 'project:20': WRITER })));
    const watcher = await connect('watch', { 'project:20': ['subscribe'] });
    expect((await watcher.call('subscribe', { channel: 'comments:project:20' })).error).toBeUndefined();
    const { thread } = reply<{ thread: Thread }>(await ann.call('comments.create_thread', { channel: 'project:20', body: 'start' }));

    // The first reply finds the thread quiet and is written at once; it opens the window.
    const first = reply<{ comment: Comment }>(await ann.call('comments.reply', { threadId: thread.id, body: 'r0' })).comment;
    expect(first.seq).toBe(2);
    const bodies = ['r1', 'r2', 'r3', 'r4', 'r5'];
    // Sent 20 ms apart: without the window each would be a commit (and a message) of its own.
    const sent: Array<ReturnType<RawClient['call']>> = [];
    for (const [i, body] of bodies.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, 20));
      sent.push((writers[i] as RawClient).call('comments.reply', { threadId: thread.id, body }));
    }
    const answers = await Promise.all(sent);
    const comments = answers.map((a) => reply<{ comment: Comment }>(a).comment);
    expect(comments.map((c) => c.seq).sort()).toEqual([3, 4, 5, 6, 7]);

    const live = () => pushes(watcher, 'comments:project:20', 'comment').map((p) => (p['comment'] as Comment).body);
    await eventually(() => live().length === 6, 10_000, 'every reply pushed');
    expect(live().slice(0, 1)).toEqual(['r0']);
    expect(live().slice(1).sort()).toEqual(bodies);
    // r0 came alone; r1…r5 came together, in one message after it.
    const messagesWith = (body: string) => watcher.raw.flatMap((text, i) => (text.includes(`"body":"${body}"`) ? [i] : []));
    const [r0] = messagesWith('r0');
    const together = new Set(bodies.flatMap(messagesWith));
    expect(together.size, watcher.raw.join('\n---\n')).toBe(1);
    expect([...together][0]).toBeGreaterThan(r0 as number);
  });

  it('holds no other thread: a reply to a quiet thread is written while a busy one waits for its window', async () => {
    const ann = await connect('ann', { 'project:21': WRITER, 'project:22': WRITER });
    const bea = await connect('bea', { 'project:21': WRITER });
    const cal = await connect('cal', { 'project:22': WRITER });
    const a = reply<{ thread: Thread }>(await ann.call('comments.create_thread', { channel: 'project:21', body: 'a' })).thread;
    const b = reply<{ thread: Thread }>(await ann.call('comments.create_thread', { channel: 'project:22', body: 'b' })).thread;
    // a's reply opens a's window; bea's next reply to a waits for it, cal's reply to b does not.
    reply(await ann.call('comments.reply', { threadId: a.id, body: 'a1' }));
    let waited = false;
    const pending = bea.call('comments.reply', { threadId: a.id, body: 'a2' }).then((r) => {
      waited = true;
      return r;
    });
    const onB = reply<{ comment: Comment }>(await cal.call('comments.reply', { threadId: b.id, body: 'b1' })).comment;
    expect(onB.seq).toBe(2);
    expect(waited).toBe(false);
    expect(reply<{ comment: Comment }>(await pending).comment.seq).toBe(3);
  });
});
