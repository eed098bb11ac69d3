import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActivityFeed, activity } from '../src/activity.js';
import type { ClientModule, FeatureHost } from '../src/feature-module.js';
import { Notifications, notifications } from '../src/notifications.js';
import { acceptConnect, createClient, flush, useFakes } from './fake-socket.js';

useFakes();

/** The files a built entry point imports, transitively (relative imports of dist/). */
function moduleGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"](\.[^'"]+)['"]/g)) visit(resolve(dirname(file), m[1] as string));
  };
  visit(entry);
  return seen;
}

describe('SDK feature modules', () => {
  it('gives one instance per client and key, made on first use', () => {
    const a = createClient();
    const b = createClient();
    let made = 0;
    const counter: ClientModule<{ n: number }> = { key: 'counter', create: () => ({ n: ++made }) };
    expect(a.use(counter)).toBe(a.use(counter));
    expect(b.use(counter)).not.toBe(a.use(counter));
    expect(made).toBe(2);
    expect(notifications(a)).toBeInstanceOf(Notifications);
    expect(notifications(a)).toBe(notifications(a));
    expect(activity(a, 'project:1')).toBeInstanceOf(ActivityFeed);
    expect(activity(a, 'project:1')).toBe(activity(a, 'project:1'));
    expect(activity(a, 'project:2')).not.toBe(activity(a, 'project:1'));
  });

  it('a module sends its commands and receives its pushes through the host only', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const inbox = notifications(client);
    const count = inbox.unreadCount();
    socket.reply('notifications.unread_count', { count: 3, unseen: 1 });
    expect(await count).toEqual({ count: 3, unseen: 1 });
    const live: string[] = [];
    inbox.onNotification((n) => live.push(n.title));
    expect(socket.lastCommand('subscribe').params).toEqual({ channel: 'user:alice' });
    socket.reply('subscribe', { epoch: 'e', offset: 0, recoverable: true });
    socket.receive({
      push: 'pub',
      channel: 'user:alice',
      offset: 1,
      epoch: 'e',
      time: 1,
      data: { kind: 'notification', notification: { id: 'n1', title: 'hello' } },
    });
    expect(live).toEqual(['hello']);
  });

  it('the core entry point does not load the notifications, activity or comments modules', () => {
    const dist = join(import.meta.dirname, '..', 'dist');
    const core = [...moduleGraph(join(dist, 'index.js'))].map((f) => f.slice(dist.length + 1));
    expect(core).toContain('client.js');
    expect(core).not.toContain('notifications.js');
    expect(core).not.toContain('activity.js');
    expect(core).not.toContain('comments.js');
    expect([...moduleGraph(join(dist, 'notifications.js'))].map((f) => f.slice(dist.length + 1))).toContain('notifications.js');
  });

  it('a module registered with client.use sends typed commands and gets its pushes and state events through a host that is not the client', async () => {
    const client = createClient();
    const board: ClientModule<Board> = { key: 'board', create: (host) => new Board(host) };
    const mine = client.use(board);
    expect(client.use(board)).toBe(mine);
    expect(mine.host).not.toBe(client);
    expect(Object.keys(mine.host).sort()).toEqual(['call', 'createId', 'on', 'onPush', 'once', 'session', 'subscribe', 'use']);
    expect(mine.host.session).toBeNull();
    client.connect();
    const socket = acceptConnect();
    expect(mine.host.session?.user).toBe('alice');
    expect(mine.states).toEqual(['connecting', 'connected']);
    socket.reply('subscribe', { epoch: 'e', offset: 0, recoverable: true });
    socket.receive({ push: 'pub', channel: 'project:7', offset: 1, epoch: 'e', time: 1, data: { kind: 'moved', card: 'c1' } });
    socket.receive({ push: 'pub', channel: 'project:8', offset: 1, epoch: 'e', time: 1, data: { kind: 'moved', card: 'not mine' } });
    expect(mine.moves).toEqual(['c1']);
    const cards = mine.cards();
    expect(socket.lastCommand('board.cards').params).toEqual({ board: 7 });
    socket.reply('board.cards', { cards: 4 });
    const answer: { cards: number } = await cards;
    expect(answer).toEqual({ cards: 4 });
    expect(mine.host.use(board)).toBe(mine);
  });

  it('a module used after disconnect() is the same instance: its calls reject with ConnectionClosed and its pushes resume on the next connect', async () => {
    const client = createClient();
    client.connect();
    acceptConnect();
    const inbox = notifications(client);
    client.disconnect();
    expect(notifications(client)).toBe(inbox);
    await expect(inbox.unreadCount()).rejects.toMatchObject({ code: 21, temporary: true });
    const live: string[] = [];
    inbox.onNotification((n) => live.push(n.title));
    const feed = activity(client, 'project:1');
    const moves: string[] = [];
    feed.onActivity((a) => moves.push(a.verb));
    client.connect();
    const socket = acceptConnect();
    await flush();
    expect(
      socket
        .commands('subscribe')
        .map((c) => c.params?.['channel'])
        .sort(),
    ).toEqual(['activity:project:1', 'user:alice']);
    for (const c of socket.commands('subscribe')) socket.receive({ id: c.id, result: { epoch: 'e', offset: 0, recoverable: true } });
    socket.receive({
      push: 'pub',
      channel: 'user:alice',
      offset: 1,
      epoch: 'e',
      time: 1,
      data: { kind: 'notification', notification: { id: 'n1', title: 'back' } },
    });
    socket.receive({
      push: 'pub',
      channel: 'activity:project:1',
      offset: 1,
      epoch: 'e',
      time: 1,
      data: { kind: 'activity', activity: { id: 'a1', verb: 'moved' } },
    });
    expect(live).toEqual(['back']);
    expect(moves).toEqual(['moved']);
    const count = inbox.unreadCount();
    socket.reply('notifications.unread_count', { count: 0, unseen: 0 });
    expect(await count).toEqual({ count: 0, unseen: 0 });
  });

  it('makes a module once even when its instance is undefined, and not at all when create throws', () => {
    const client = createClient();
    let made = 0;
    const nothing: ClientModule<undefined> = { key: 'nothing', create: () => void made++ };
    client.use(nothing);
    client.use(nothing);
    expect(made).toBe(1);
    const broken: ClientModule<number> = {
      key: 'broken',
      create: () => {
        made++;
        throw new Error('no');
      },
    };
    expect(() => client.use(broken)).toThrow('no');
    expect(() => client.use(broken)).toThrow('no');
    expect(made).toBe(3);
  });
});

/** A third-party style module: a board's cards, live on `project:7`. */
class Board {
  readonly moves: string[] = [];
  readonly states: string[] = [];

  constructor(readonly host: FeatureHost) {
    host.subscribe<{ kind: string; card: string }>('project:7').on('publication', (p) => {
      if (p.data.kind === 'moved') this.moves.push(p.data.card);
    });
    host.on('state', (e) => this.states.push(e.state));
  }

  cards(): Promise<{ cards: number }> {
    return this.host.call<{ cards: number }>('board.cards', { board: 7 });
  }
}
