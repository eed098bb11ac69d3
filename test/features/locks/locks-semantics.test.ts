import { spawn } from 'node:child_process';
import type { SwitchboardClient } from '@switchboard/client';
import { locks } from '@switchboard/client/locks';
import { ErrorCode, type LockInfo } from '@switchboard/protocol';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../../../packages/client/test/wait-for.js';
import { type DurableServer, reply, STORES, startDurableServer, waitPush } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { RawClient } from '../../helpers/raw-client.js';

/**
 * Lock semantics beyond one holder per key: the snapshot a subscribe reply carries, the
 * per-channel cap, first come first served among waiters, and the release of a lock whose
 * holder's process was killed (the OS closes its socket without a close frame).
 */

const CAPS = { 'project:*': ['subscribe', 'publish', 'presence', 'lock'], 'chat:*': ['subscribe'] };
const WAIT = 10_000;
const GRACE_MS = 300;

describe.each(STORES)('lock semantics on %s', (store) => {
  let s: DurableServer;
  const clients: SwitchboardClient[] = [];
  const raws: RawClient[] = [];

  beforeAll(async () => {
    s = await startDurableServer(store, { locks: { grace: `${GRACE_MS}ms`, perChannel: 3, perConnection: 10, perUser: 50 } });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const r of raws) r.close();
    await s?.stop();
  });

  async function raw(sub: string): Promise<RawClient> {
    const r = await RawClient.connect(s.url, await s.token({ sub, caps: CAPS }));
    raws.push(r);
    return r;
  }

  async function sdk(sub: string): Promise<SwitchboardClient> {
    const { SwitchboardClient } = await import('@switchboard/client');
    const c = new SwitchboardClient(s.url, { getToken: () => s.token({ sub, caps: CAPS }), WebSocket });
    clients.push(c);
    const ready = waitFor(c, 'connected');
    c.connect();
    await ready;
    return c;
  }

  const contentions = async (): Promise<number> => {
    const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
    return Number(/^switchboard_lock_contentions_total (\d+)/m.exec(text)?.[1] ?? 0);
  };

  it("carries the channel's locks in the subscribe reply (state.locks), so the SDK's view is whole once subscribed", async () => {
    const holder = await raw('ada');
    const a = reply<LockInfo>(await holder.call('locks.acquire', { channel: 'project:snap', key: 'field:a', attributes: { color: 'red' } }));
    const b = reply<LockInfo>(await holder.call('locks.acquire', { channel: 'project:snap', key: 'field:b' }));

    const watcher = await raw('carol');
    // Asked for: a plain subscribe costs the lock service nothing and carries no state.
    expect(reply<Record<string, unknown>>(await watcher.call('subscribe', { channel: 'project:snap' }))).not.toHaveProperty('state');
    await watcher.call('unsubscribe', { channel: 'project:snap' });
    const subscribed = reply<{ state?: { locks?: LockInfo[] } }>(await watcher.call('subscribe', { channel: 'project:snap', state: ['locks'] }));
    expect(subscribed.state?.locks?.map((l) => [l.key, l.fencingToken, l.holder.user])).toEqual([
      ['field:a', a.fencingToken, 'ada'],
      ['field:b', b.fencingToken, 'ada'],
    ]);
    expect(subscribed.state?.locks?.[0]?.holder.attributes).toEqual({ color: 'red' });
    // A namespace without locks says nothing of them.
    const chat = reply<Record<string, unknown>>(await watcher.call('subscribe', { channel: 'chat:snap', state: ['locks', 'nosuch'] }));
    expect(chat).not.toHaveProperty('state');

    // The SDK applies the snapshot before its `subscribed` listeners run: no second round trip.
    const c = await sdk('dave');
    const view = locks(c, 'project:snap');
    const sub = c.getSubscription('project:snap');
    const atSubscribed = await new Promise<string[]>((resolve) => sub?.on('subscribed', () => resolve(view.getAll().map((l) => l.key))));
    expect(atSubscribed).toEqual(['field:a', 'field:b']);
  });

  it("names the holder in 130 also while the grant's row is not written yet (the lease store decided)", async () => {
    const holder = await raw('early');
    reply<LockInfo>(await holder.call('locks.acquire', { channel: 'project:early', key: 'k' }));
    // What a contender on another node sees in the moment between the grant and its row.
    await sql`delete from sb_locks where channel = 'project:early'`.execute(s.server.storage.db);
    const other = await raw('late');
    const refused = await other.call('locks.acquire', { channel: 'project:early', key: 'k' });
    expect(refused.error).toMatchObject({ code: ErrorCode.Locked.code, data: { holder: { user: 'early' } } });
  });

  it('caps the locks of one channel: the next acquire and backend lease get 106 and nothing is stored', async () => {
    const [u1, u2] = [await raw('cap-1'), await raw('cap-2')];
    expect((await u1.call('locks.acquire', { channel: 'project:cap', key: 'k0' })).error).toBeUndefined();
    expect((await u1.call('locks.acquire', { channel: 'project:cap', key: 'k1' })).error).toBeUndefined();
    expect((await u2.call('locks.acquire', { channel: 'project:cap', key: 'k2' })).error).toBeUndefined();
    expect((await u2.call('locks.acquire', { channel: 'project:cap', key: 'k3' })).error?.code).toBe(ErrorCode.LimitExceeded.code);
    const lease = await s.api('PUT', `/channels/${encodeURIComponent('project:cap')}/locks/k4`, { body: { userId: 'svc', ttlMs: 60_000 } });
    expect(lease.status).toBe(422);
    expect((lease.body['error'] as { code: number }).code).toBe(ErrorCode.LimitExceeded.code);
    const listed = await s.api('GET', `/channels/${encodeURIComponent('project:cap')}/locks`);
    expect((listed.body['locks'] as LockInfo[]).map((l) => l.key)).toEqual(['k0', 'k1', 'k2']);
    // A key already held is no new lock: its holder re-acquires it at the cap, and another channel is not counted.
    expect((await u1.call('locks.acquire', { channel: 'project:cap', key: 'k0' })).error).toBeUndefined();
    expect((await u2.call('locks.acquire', { channel: 'project:cap-other', key: 'k3' })).error).toBeUndefined();
    // Freeing one makes room for one.
    await u1.call('locks.release', { channel: 'project:cap', key: 'k1' });
    expect((await u2.call('locks.acquire', { channel: 'project:cap', key: 'k3' })).error).toBeUndefined();
  });

  it('hands a contended key to its waiters first come, first served, each grant with a larger token', async () => {
    const holder = await raw('fifo-holder');
    const first = reply<LockInfo>(await holder.call('locks.acquire', { channel: 'project:fifo', key: 'k' }));
    const waiters = await Promise.all(Array.from({ length: 5 }, (_, i) => raw(`fifo-${i}`)));
    const ids: number[] = [];
    for (const w of waiters) {
      const before = await contentions();
      ids.push(w.send('locks.acquire', { channel: 'project:fifo', key: 'k', waitMs: 20_000 }));
      // Queued once it is counted as contended (the counter and the queue change together).
      await eventually(async () => (await contentions()) > before, WAIT, `${w.info['user']} queued`);
    }
    const order: string[] = [];
    const tokens = [first.fencingToken];
    await holder.call('locks.release', { channel: 'project:fifo', key: 'k' });
    for (let turn = 0; turn < waiters.length; turn++) {
      // Exactly one waiter holds it at a time: the next one is granted only after this one lets go.
      const granted = await Promise.race(waiters.map((w, i) => w.waitFor((f) => f.id === ids[i], WAIT).then((f) => ({ i, f }))));
      const { i, f } = granted;
      expect(f.error).toBeUndefined();
      order.push(`fifo-${i}`);
      tokens.push((f.result as unknown as LockInfo).fencingToken);
      ids[i] = -1;
      await waiters[i]?.call('locks.release', { channel: 'project:fifo', key: 'k' });
    }
    expect(order).toEqual(['fifo-0', 'fifo-1', 'fifo-2', 'fifo-3', 'fifo-4']);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
  });

  it('releases the lock of a holder whose process was killed (kill -9) after the grace, to a waiter, with a larger token', async () => {
    const watcher = await raw('kill-watch');
    await watcher.call('subscribe', { channel: 'project:kill' });
    const token = await s.token({ sub: 'kill-holder', caps: CAPS });
    // A separate process holds the lock over its own socket, then dies without a close frame.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import WebSocket from 'ws';
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => { ws.send(JSON.stringify({ id: 1, method: 'connect', params: { token: process.argv[2] } })); ws.send(JSON.stringify({ id: 2, method: 'locks.acquire', params: { channel: 'project:kill', key: 'k' } })); });
ws.on('message', (d) => { for (const line of String(d).split('\\n')) if (line && JSON.parse(line).id === 2) process.stdout.write(line + '\\n'); });`,
        s.url,
        token,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() },
    );
    const held = await new Promise<LockInfo>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => {
        const f = JSON.parse(d.toString()) as { result?: LockInfo; error?: unknown };
        if (f.result) resolve(f.result);
        else reject(new Error(JSON.stringify(f.error)));
      });
      child.once('exit', () => reject(new Error('the holder process exited early')));
    });
    const contender = await raw('kill-next');
    const waiting = contender.call('locks.acquire', { channel: 'project:kill', key: 'k', waitMs: 20_000 }, WAIT);
    const released = waitPush(watcher, 'project:kill', (d) => d['event'] === 'released', WAIT);
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const push = (await released)['data'] as { reason: string; lock: LockInfo };
    const heldFor = performance.now() - killedAt;
    expect(push).toMatchObject({ reason: 'connection-lost', lock: { key: 'k', fencingToken: held.fencingToken, holder: { user: 'kill-holder' } } });
    // Kept for the grace (a reconnect of the same session could have taken it back), never less.
    expect(heldFor).toBeGreaterThanOrEqual(GRACE_MS - 20);
    const next = reply<LockInfo>(await waiting);
    expect(next.holder.user).toBe('kill-next');
    expect(next.fencingToken).toBeGreaterThan(held.fencingToken);
  });
});
