import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActivityFeed, activity } from '../src/activity.js';
import type { ClientModule } from '../src/feature-module.js';
import { Notifications, notifications } from '../src/notifications.js';
import { acceptConnect, createClient, useFakes } from './fake-socket.js';

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
    socket.receive({ push: 'pub', channel: 'user:alice', offset: 1, epoch: 'e', time: 1, data: { kind: 'notification', notification: { id: 'n1', title: 'hello' } } });
    expect(live).toEqual(['hello']);
  });

  it('the core entry point does not load the notifications or activity modules', () => {
    const dist = join(import.meta.dirname, '..', 'dist');
    const core = [...moduleGraph(join(dist, 'index.js'))].map((f) => f.slice(dist.length + 1));
    expect(core).toContain('client.js');
    expect(core).not.toContain('notifications.js');
    expect(core).not.toContain('activity.js');
    expect([...moduleGraph(join(dist, 'notifications.js'))].map((f) => f.slice(dist.length + 1))).toContain('notifications.js');
  });
});
