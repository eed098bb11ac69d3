import type { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { type LiveRecord, type RecordConflictEvent, type RecordOverwrittenEvent, records } from '@switchboard/client/records';
import type { RecordState } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlockingProxy, startBlockingProxy } from '../helpers/blocking-proxy.js';
import { connectedClient } from '../helpers/sdk-client.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/**
 * The SDK's records module over a real server, on SQLite and on PostgreSQL: for each policy,
 * a write made offline waits with the base version it was made on and is decided on
 * reconnect by the same policy, once; the overwritten writer and the refused writer are told.
 */

const WRITER = ['subscribe', 'publish'];
const CAPS = { 'form:*': WRITER, 'lww:*': WRITER, 'strict:*': WRITER };
const NAMESPACES = {
  user: { subscribe: 'owner', clientPublish: false, presence: false },
  form: { clientPublish: false, records: { policy: 'merge', fields: { tags: { type: 'set' }, votes: { type: 'counter' } } } },
  lww: { clientPublish: false, records: { policy: 'lww' } },
  strict: { clientPublish: false, records: { policy: 'manual' } },
} as const;

const once = <T>(subscribe: (listener: (e: T) => void) => () => void): Promise<T> =>
  new Promise((resolve) => {
    const off = subscribe((e) => {
      off();
      resolve(e);
    });
  });

describe.each(STORES)('the records SDK module on %s', (store) => {
  let s: DurableServer;
  let proxy: BlockingProxy;
  const cleanup: Array<() => void> = [];
  let n = 0;

  beforeAll(async () => {
    s = await startDurableServer(store, { namespaces: NAMESPACES as never, limits: { newConnectionsPerIpPerSecond: 10_000 } });
    proxy = await startBlockingProxy(s.port);
    proxy.allowUpgrades = true;
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    await proxy?.close();
    await s?.stop();
  });

  /** A connected client; through the proxy when it is to go offline. */
  const client = (user: string, viaProxy = false): Promise<SwitchboardClient> =>
    connectedClient(viaProxy ? proxy.url : s.url, () => s.token({ sub: user, caps: CAPS }), cleanup);
  const open = async (c: SwitchboardClient, channel: string): Promise<LiveRecord> => {
    const r = records(c).open(channel);
    await r.ready;
    return r;
  };
  /** Cut the proxied client off and keep it off until `online()`. */
  async function offline(c: SwitchboardClient): Promise<() => Promise<void>> {
    proxy.allowUpgrades = false;
    const lost = new Promise((r) => c.once('reconnecting', r));
    proxy.cut();
    await lost;
    return async () => {
      const back = new Promise((r) => c.once('connected', r));
      proxy.allowUpgrades = true;
      await back;
    };
  }
  const stored = async (channel: string) => (await s.api('GET', `/channels/${channel}/record`)).body as unknown as RecordState;
  const fresh = (ns: string) => `${ns}:sdk-${store}-${++n}`;

  it('lww: a write made offline replays on its old base and wins; the writer it overwrote is told by an overwritten event', async () => {
    const ch = fresh('lww');
    const ca = await client('ann', true);
    const a = await open(ca, ch);
    const b = await open(await client('bob'), ch);
    const online = await offline(ca);
    const queued = a.set('title', 'ann offline');
    const overwritten = once<RecordOverwrittenEvent>((l) => b.on('overwritten', l));
    expect((await b.set('title', 'bob online')).version).toBe(1);
    await online();
    expect(await queued).toMatchObject({ version: 2, replaced: [{ field: 'title', author: 'bob', version: 1 }] });
    expect(await overwritten).toMatchObject({ field: 'title', value: 'ann offline', author: 'ann', version: 2, replacedVersion: 1 });
    expect(b.get('title')).toBe('ann offline');
    expect((await stored(ch)).fields['title']).toMatchObject({ value: 'ann offline', version: 2 });
  });

  it('merge: offline changes to other fields, a set and a counter replay and merge with what was written meanwhile', async () => {
    const ch = fresh('form');
    const ca = await client('ann', true);
    const a = await open(ca, ch);
    const b = await open(await client('bob'), ch);
    await a.write([
      { field: 'address', op: 'set', value: { street: 'Main', city: 'Oslo' } },
      { field: 'tags', op: 'set', value: ['x'] },
    ]);
    if (b.version < 1) await once<unknown>((l) => b.on('change', l));
    const online = await offline(ca);
    const queued = [
      a.set('title', 'from ann'),
      a.add('tags', 'a'),
      a.increment('votes', 2),
      a.set('address', { street: 'High', city: 'Oslo' }), // only `street` is sent
    ];
    await b.set('body', 'from bob');
    await b.add('tags', 'b');
    await b.increment('votes', 3);
    await b.set('address', { street: 'Main', city: 'Bergen' }); // only `city` is sent
    await online();
    await Promise.all(queued);
    const r = await stored(ch);
    expect(r.version).toBe(9);
    const values = Object.fromEntries(Object.entries(r.fields).map(([k, f]) => [k, f.value]));
    expect(values).toEqual({
      title: 'from ann',
      body: 'from bob',
      tags: expect.arrayContaining(['x', 'a', 'b']),
      votes: 5,
      address: { street: 'High', city: 'Bergen' },
    });
    // The resubscribe's snapshot may follow the replayed writes' answers: the view converges on it.
    if (a.version < 9) await new Promise<void>((resolve) => a.on('change', () => a.version >= 9 && resolve()));
    expect(a.values()).toEqual(values);
  });

  it('manual: an offline write on a stale base is refused on replay with the current value (never dropped silently), and applies when written again', async () => {
    const ch = fresh('strict');
    const ca = await client('ann', true);
    const a = await open(ca, ch);
    const b = await open(await client('bob'), ch);
    const online = await offline(ca);
    const queued = a.set('email', 'ann@offline');
    await b.set('email', 'bob@online');
    const conflict = once<RecordConflictEvent>((l) => a.on('conflict', l));
    await online();
    const err = (await queued.catch((e: unknown) => e)) as SwitchboardError;
    expect(err.code).toBe(134);
    expect(err.data).toEqual({ version: 1, conflicts: [{ field: 'email', value: 'bob@online', version: 1, author: 'bob' }] });
    expect((await conflict).changes).toEqual([{ field: 'email', op: 'set', value: 'ann@offline' }]);
    expect(a.get('email')).toBe('bob@online');
    expect(a.version).toBe(1);
    expect(await a.set('email', 'ann@resolved')).toMatchObject({ version: 2 });
    expect((await stored(ch)).fields['email']).toMatchObject({ value: 'ann@resolved', author: 'ann', version: 2 });
  });

  it('writes cut off in flight by a lost connection are sent again with their idempotency keys and each applies once', async () => {
    const ch = fresh('form');
    const c = await client('sdk-cut');
    const r = await open(c, ch);
    const writes = Array.from({ length: 30 }, () => r.increment('votes', 1));
    const kicked = await s.api('POST', '/users/sdk-cut/disconnect', { body: { code: 4000, reason: 'test' } });
    expect(kicked.status, kicked.text).toBe(200);
    const done = await Promise.all(writes);
    expect(done.map((d) => d.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await stored(ch)).toMatchObject({ version: 30, fields: { votes: { value: 30 } } });
  });
});
