import type { ClientOptions, PublicationEvent, SubscribedEvent, SwitchboardClient } from '@switchboard/client';
import { describe, expect, it } from 'vitest';
import { useRealServer } from '../packages/client/test/real-server.js';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';

/**
 * The SDK with server-side filters: `subscribe(channel, { filter })`, `publish(…, { tags })`,
 * tags on received publications; the offsets of a filtered subscription skip without being
 * taken for a gap, and after a forced disconnect recovery delivers exactly the matching
 * publications missed, once each.
 */

const { server, client } = useRealServer({ namespaces: { project: { historySize: 500 } } });

async function connected(sub: string, options: ClientOptions = {}): Promise<SwitchboardClient> {
  const c = client({ sub }, { backoff: { minDelay: 10, maxDelay: 50 }, ...options });
  const ready = waitFor(c, 'connected');
  c.connect();
  await ready;
  return c;
}

async function httpPublish(channel: string, data: unknown, tags?: Record<string, string>): Promise<number> {
  const res = await fetch(`${server().httpUrl}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server().tenantKeys['acme']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data, ...(tags ? { tags } : {}) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { offset: number }).offset;
}

const LEVELS = ['debug', 'info', 'warn', 'error'];

describe('client SDK against the real server: filters', () => {
  it('receives only matching publications, with their tags, and takes the skipped offsets for no gap', async () => {
    const alice = await connected('alice');
    const bob = await connected('bob');
    const sub = alice.subscribe<number>('project:alerts', { filter: { tags: { level: ['warn', 'error'] } } });
    const got: PublicationEvent<number>[] = [];
    sub.on('publication', (p) => got.push(p));
    const states: string[] = [];
    sub.on('state', (e) => states.push(e.state));
    await waitFor(sub, 'subscribed');
    const offsets: number[] = [];
    for (let i = 0; i < 40; i++) offsets.push((await bob.publish('project:alerts', i, { tags: { level: LEVELS[i % 4] as string } })).offset);
    const want = offsets.filter((_, i) => i % 4 >= 2);
    await waitUntil(sub, 'publication', () => got.length === want.length);
    expect(got.map((p) => p.offset)).toEqual(want);
    expect(got.map((p) => p.tags?.['level'])).toEqual(want.map((_, k) => (k % 2 === 0 ? 'warn' : 'error')));
    // Never resubscribed: a skip is no gap on a filtered subscription.
    expect(states).toEqual(['subscribed']);
  });

  it('recovers after a forced disconnect exactly the matching publications it missed, once each', async () => {
    const carol = await connected('carol');
    const channel = 'project:recover-filtered';
    const filter = { or: [{ tags: { team: 'eng' } }, { not: { tags: { level: ['debug', 'info'] } } }] };
    const sub = carol.subscribe<number>(channel, { filter });
    const got: number[] = [];
    sub.on('publication', (p) => got.push(p.data));
    await waitFor(sub, 'subscribed');
    const tagsOf = (i: number): Record<string, string> | undefined =>
      i % 5 === 0 ? undefined : { team: i % 3 === 0 ? 'eng' : 'ops', level: LEVELS[i % 4] as string };
    const matches = (i: number) => {
      const t = tagsOf(i);
      return t?.['team'] === 'eng' || !(t !== undefined && ['debug', 'info'].includes(t['level'] as string));
    };
    for (let i = 0; i < 30; i++) await httpPublish(channel, i, tagsOf(i));
    const wantBefore = Array.from({ length: 30 }, (_, i) => i).filter(matches);
    await waitUntil(sub, 'publication', () => got.length === wantBefore.length);

    const lost = waitFor(carol, 'connecting');
    const res = await fetch(`${server().httpUrl}/api/v1/users/carol/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server().apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' },
      body: JSON.stringify({ code: 4000, reason: 'test drop' }),
    });
    expect(res.status).toBe(200);
    await lost;
    const resubscribed: Promise<SubscribedEvent> = waitFor(sub, 'subscribed');
    // Published while the connection is down and while it comes back.
    for (let i = 30; i < 70; i++) await httpPublish(channel, i, tagsOf(i));
    const back = await resubscribed;
    expect(back).toMatchObject({ wasRecovering: true, recovered: true });
    for (let i = 70; i < 80; i++) await httpPublish(channel, i, tagsOf(i));
    const want = Array.from({ length: 80 }, (_, i) => i).filter(matches);
    await waitUntil(sub, 'publication', () => got.length >= want.length);
    expect(got).toEqual(want);
  });
});
