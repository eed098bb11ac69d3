import { SwitchboardClient } from '@switchboard/client';
import { type CommentEvent, comments, type ReceiptEvent } from '@switchboard/client/comments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Thread } from '../../packages/client/src/comments.js';
import { eventually } from '../helpers/eventually.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/**
 * The SDK's comments module over a real server, on SQLite and on PostgreSQL: writes made
 * offline wait and apply once connected; writes cut off by a lost connection are sent again
 * with their idempotency keys and apply once; live comment and receipt events.
 */

const CAPS = { 'project:*': ['subscribe', 'comment'] };

describe.each(STORES)('the comments SDK module on %s', (store) => {
  let s: DurableServer;
  const cleanup: Array<() => void> = [];

  beforeAll(async () => {
    s = await startDurableServer(store);
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    await s?.stop();
  });

  function client(user: string): SwitchboardClient {
    const c = new SwitchboardClient(s.url, {
      getToken: () => s.token({ sub: user, caps: CAPS }),
      WebSocket,
      random: () => 0,
      backoff: { minDelay: 10, maxDelay: 50 },
    });
    cleanup.push(() => c.disconnect());
    return c;
  }
  const connected = (c: SwitchboardClient) => new Promise((r) => c.once('connected', r));

  it('a thread and a reply written before connecting wait, then apply once, in order', async () => {
    const c = client('sdk-off');
    const threads = comments(c, 'project:1');
    const created = threads.createThread({ body: 'written offline' });
    const ready = connected(c);
    c.connect();
    await ready;
    const { thread } = await created;
    const { comment } = await threads.thread(thread.id).reply({ body: 'and a reply' });
    expect(comment.seq).toBe(2);
    const stored = (await s.api('GET', '/channels/project:1/threads')).body as { threads: Thread[] };
    expect(stored.threads.map((t) => t.comments.map((x) => x.body))).toEqual([['written offline', 'and a reply']]);
  });

  it('replies cut off by a lost connection are sent again after the reconnect and each applies once', async () => {
    const c = client('sdk-cut');
    const ready = connected(c);
    c.connect();
    await ready;
    const threads = comments(c, 'project:2');
    const { thread } = await threads.createThread({ body: 'start' });
    const handle = threads.thread(thread.id);
    const replies = Array.from({ length: 30 }, (_, i) => handle.reply({ body: `r${i}` }));
    // Cut the connection with a code the SDK reconnects after, while replies are in flight.
    const kicked = await s.api('POST', '/users/sdk-cut/disconnect', { body: { code: 4000, reason: 'test' } });
    expect(kicked.status, kicked.text).toBe(200);
    const done = await Promise.all(replies);
    expect(done.map((r) => r.comment.body)).toEqual(Array.from({ length: 30 }, (_, i) => `r${i}`));
    const t = (await s.api('GET', `/threads/${thread.id}`)).body as unknown as Thread;
    expect(t.comments.map((x) => x.body).sort()).toEqual(['start', ...Array.from({ length: 30 }, (_, i) => `r${i}`)].sort());
    expect(t.comments.map((x) => x.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
  });

  it('pending writes fail with ClientDisconnected (22) when the app disconnects', async () => {
    const c = client('sdk-stop');
    const pending = comments(c, 'project:3').createThread({ body: 'never sent' });
    const ready = connected(c);
    c.connect();
    c.disconnect();
    await expect(pending).rejects.toMatchObject({ code: 22 });
    void ready;
  });

  it('delivers comment and receipt events to a watching client', async () => {
    const writer = client('sdk-writer');
    const watcher = client('sdk-watcher');
    const both = [connected(writer), connected(watcher)];
    writer.connect();
    watcher.connect();
    await Promise.all(both);
    const seen: CommentEvent[] = [];
    const receipts: ReceiptEvent[] = [];
    const watched = comments(watcher, 'project:4');
    watched.on('comment', (e) => seen.push(e));
    watched.on('receipt', (e) => receipts.push(e));
    await eventually(() => s.server.node.channels('acme').some((ch) => ch.channel === 'comments:project:4'), 5000, 'the watcher subscribed');
    const threads = comments(writer, 'project:4');
    const { thread } = await threads.createThread({ body: 'watch this' });
    const { comment } = await threads.thread(thread.id).reply({ body: 'a reply' });
    await watched.thread(thread.id).markRead(comment.id);
    await eventually(() => seen.length === 1 && receipts.length === 1, 5000, 'the events');
    expect(seen[0]).toMatchObject({ action: 'created', threadId: thread.id, comment: { id: comment.id, body: 'a reply' } });
    expect(receipts[0]).toMatchObject({ threadId: thread.id, userId: 'sdk-watcher', seq: 2 });
  });
});
