/**
 * The fallback transport (SSE + POST) on `serve --workers 2`, real processes: the cluster
 * module hands each HTTP request to either worker, so most POSTs of a session land on the
 * worker that does not hold its stream; every one of them must still reach the session.
 */
import { SwitchboardClient } from '@switchboard/client';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';
import { freshConnectionFetch, startWorkersServer, type WorkersServer } from './helpers/workers-server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cluster(): Promise<WorkersServer> {
  const s = await startWorkersServer({ workers: 2 });
  cleanups.push(() => s.kill());
  return s;
}

function client(s: WorkersServer, sub: string): SwitchboardClient {
  const c = new SwitchboardClient(s.url, {
    getToken: () => s.token({ sub }),
    transports: ['sse'],
    fetch: freshConnectionFetch,
    backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
  });
  cleanups.push(() => c.disconnect());
  return c;
}

describe('the fallback transport across workers', () => {
  it('publishes, subscribes and enters presence over SSE with 2 workers: all of many POSTs land, in order', async () => {
    const s = await cluster();
    const alice = client(s, 'alice');
    const bob = client(s, 'bob');
    const aliceRoom = alice.subscribe<{ n: number }, { page: string }>('project:fallback');
    const bobRoom = bob.subscribe<{ n: number }>('project:fallback');
    const gotA: number[] = [];
    const gotB: number[] = [];
    aliceRoom.on('publication', (p) => gotA.push(p.data.n));
    bobRoom.on('publication', (p) => gotB.push(p.data.n));
    // A POST the session's worker never got closes the stream (1006) and the client reconnects: count them.
    const connects = { alice: 0, bob: 0 };
    alice.on('connected', () => connects.alice++);
    bob.on('connected', () => connects.bob++);
    // Both waits start before either connects: bob may well be subscribed first.
    const subscribed = Promise.all([waitFor(aliceRoom, 'subscribed', undefined, 15_000), waitFor(bobRoom, 'subscribed', undefined, 15_000)]);
    alice.connect();
    bob.connect();
    await subscribed;
    expect(alice.transport).toBe('sse');
    await aliceRoom.enterPresence({ page: '/a' });
    const members = await bobRoom.presence();
    expect(members.map((m) => m.user)).toContain('alice');

    // Each publish is one POST (the SDK sends one at a time); 60 from each, interleaved.
    const N = 60;
    const offsets: number[] = [];
    for (let i = 0; i < N; i++) {
      const [a, b] = await Promise.all([aliceRoom.publish({ n: 2 * i }), bobRoom.publish({ n: 2 * i + 1 })]);
      offsets.push(a.offset, b.offset);
    }
    expect([...offsets].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    await waitUntil(aliceRoom, 'publication', () => gotA.length === 2 * N, 15_000);
    await waitUntil(bobRoom, 'publication', () => gotB.length === 2 * N, 15_000);
    expect(gotA).toEqual(gotB);
    expect(new Set(gotA).size).toBe(2 * N);

    expect(connects).toEqual({ alice: 1, bob: 1 });

    await aliceRoom.leavePresence();
    const after = await bobRoom.presence();
    expect(after.map((m) => m.user)).not.toContain('alice');
  });
});
