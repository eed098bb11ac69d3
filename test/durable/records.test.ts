import type { RecordConflictData, RecordPush, RecordState, RecordWriteResult } from '@switchboard/protocol';
import { ErrorCode } from '@switchboard/protocol';
import { type RecordsApi, ReplyError } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, STORES, startDurableServer } from './helpers.js';

/**
 * Records over a real server on SQLite and on PostgreSQL, at the wire: for each policy two
 * clients write concurrently on one base and get the documented result; versions have no
 * gaps; bad input is refused with a typed error and changes nothing.
 */

const WRITER = ['subscribe', 'publish'];
const CAPS = { 'form:*': WRITER, 'lww:*': WRITER, 'strict:*': WRITER, 'project:*': WRITER, 'plain:*': WRITER };
const NAMESPACES = {
  user: { subscribe: 'owner', clientPublish: false, presence: false },
  project: {},
  plain: {},
  form: { clientPublish: false, records: { policy: 'merge', fields: { tags: { type: 'set' }, votes: { type: 'counter' } } } },
  lww: { clientPublish: false, records: { policy: 'lww' } },
  strict: { clientPublish: false, records: { policy: 'manual', fields: { note: { policy: 'lww' } }, maxFields: 4, maxFieldBytes: 64, maxRecordBytes: 150 } },
} as const;

type Reply<T> = { result?: T; error?: { code: number; message: string; data?: unknown } };

describe.each(STORES)('records on %s', (store) => {
  let s: DurableServer;
  const clients: RawClient[] = [];
  let n = 0;

  beforeAll(async () => {
    s = await startDurableServer(store, { namespaces: NAMESPACES as never });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await s?.stop();
  });

  async function client(user: string, caps: Record<string, string[]> = CAPS, tenant = 'acme'): Promise<RawClient> {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, caps, tenant }));
    clients.push(c);
    return c;
  }
  /** A record channel of its own per test. */
  const fresh = (ns: string) => `${ns}:${store}-${++n}`;
  const write = (c: RawClient, channel: string, base: number, changes: unknown[], extra: Record<string, unknown> = {}) =>
    c.call('records.write', { channel, base, changes, ...extra }) as Promise<Frame & Reply<RecordWriteResult>>;
  const read = async (channel: string, tenant = 'acme'): Promise<RecordState> => {
    const res = await s.api('GET', `/channels/${channel}/record`, { key: s.tenantKeys[tenant] as string });
    expect(res.status, res.text).toBe(200);
    return res.body as unknown as RecordState;
  };
  const set = (field: string, value: unknown) => ({ field, op: 'set', value });
  const values = (r: RecordState) => Object.fromEntries(Object.entries(r.fields).map(([k, f]) => [k, f.value]));
  /** Subscribe and wait until the record's pushes up to `version` arrived. */
  const pushes = (c: RawClient, channel: string) =>
    c
      .pushes('pub', channel)
      .map((f) => f['data'] as RecordPush)
      .filter((d) => d.kind === 'record');

  it('lww: both concurrent writes apply, the last in server order wins, and the overwritten writer is told who won', async () => {
    const ch = fresh('lww');
    const [a, b] = [await client('ann'), await client('bob')];
    for (const c of [a, b]) expect((await c.call('subscribe', { channel: ch })).error).toBeUndefined();
    const [ra, rb] = await Promise.all([
      write(a, ch, 0, [set('title', 'from ann')], { session: 'sa' }),
      write(b, ch, 0, [set('title', 'from bob')], { session: 'sb' }),
    ]);
    expect(ra.error).toBeUndefined();
    expect(rb.error).toBeUndefined();
    const [first, second] = (ra.result?.version as number) < (rb.result?.version as number) ? [ra, rb] : [rb, ra];
    const [loser, winner] = first === ra ? ['ann', 'bob'] : ['bob', 'ann'];
    expect([first.result?.version, second.result?.version]).toEqual([1, 2]);
    expect(second.result?.replaced).toEqual([{ field: 'title', author: loser, session: loser === 'ann' ? 'sa' : 'sb', version: 1 }]);
    const stored = await read(ch);
    expect(stored.version).toBe(2);
    expect(stored.fields['title']).toMatchObject({ value: `from ${winner}`, version: 2, author: winner });
    // Every subscriber converges on the winner; the loser's client recognises its session in `replaced`.
    for (const c of [a, b]) await c.until(() => pushes(c, ch).length === 2, 5000, 'both pushes');
    const last = pushes(a, ch).find((p) => p.version === 2) as RecordPush;
    expect(last).toMatchObject({ author: winner, fields: { title: { value: `from ${winner}`, version: 2 } } });
    expect(last.replaced[0]?.session).toBe(loser === 'ann' ? 'sa' : 'sb');
  });

  it('lww: a write made on a base that includes the other value replaces nothing unseen', async () => {
    const ch = fresh('lww');
    const a = await client('ann');
    const b = await client('bob');
    expect((await write(a, ch, 0, [set('title', 'one')], { session: 'sa' })).result?.version).toBe(1);
    const seen = await write(b, ch, 1, [set('title', 'two')], { session: 'sb' });
    expect(seen.result).toMatchObject({ version: 2, replaced: [] });
  });

  it('merge: different fields, set adds and removes, counter deltas and object keys from two writers on one base all apply', async () => {
    const ch = fresh('form');
    const a = await client('ann');
    const b = await client('bob');
    expect((await write(a, ch, 0, [set('tags', ['x', 'y']), set('votes', 10), set('address', { street: 'Main', city: 'Oslo' })])).error).toBeUndefined();
    const [ra, rb] = await Promise.all([
      write(a, ch, 1, [
        set('title', 'from ann'),
        { field: 'tags', op: 'add', items: ['a'] },
        { field: 'votes', op: 'increment', by: 2 },
        { field: 'address', op: 'patch', set: { street: 'High' } },
      ]),
      write(b, ch, 1, [
        set('body', 'from bob'),
        { field: 'tags', op: 'remove', items: ['x'] },
        { field: 'votes', op: 'increment', by: -5 },
        { field: 'address', op: 'patch', set: { zip: '0150' }, unset: ['city'] },
      ]),
    ]);
    expect(ra.error).toBeUndefined();
    expect(rb.error).toBeUndefined();
    const stored = await read(ch);
    expect(stored.version).toBe(3);
    expect(values(stored)).toEqual({
      title: 'from ann',
      body: 'from bob',
      tags: expect.arrayContaining(['y', 'a']),
      votes: 7,
      address: { street: 'High', zip: '0150' },
    });
    expect(stored.fields['tags']?.value).toHaveLength(2);
  });

  it('merge: a scalar changed by both since the base falls back to manual: the second gets 134 with the current value and changes nothing', async () => {
    const ch = fresh('form');
    const a = await client('ann');
    const b = await client('bob');
    const [ra, rb] = await Promise.all([write(a, ch, 0, [set('title', 'from ann'), set('x', 1)]), write(b, ch, 0, [set('title', 'from bob'), set('y', 2)])]);
    const [ok, refused] = ra.error ? [rb, ra] : [ra, rb];
    const winner = ok === ra ? 'ann' : 'bob';
    expect(ok.result?.version).toBe(1);
    expect(refused.error?.code).toBe(ErrorCode.RecordConflict.code);
    expect(refused.error?.data).toEqual({
      version: 1,
      conflicts: [{ field: 'title', value: `from ${winner}`, version: 1, author: winner }],
    } satisfies RecordConflictData);
    const stored = await read(ch);
    expect(stored.version).toBe(1);
    expect(Object.keys(stored.fields).sort()).toEqual(winner === 'ann' ? ['title', 'x'] : ['title', 'y']);
    // The same key of an object changed by both: a conflict on that key.
    await write(a, ch, 1, [set('address', { street: 'Main' })]);
    await write(a, ch, 2, [{ field: 'address', op: 'patch', set: { street: 'High' } }]);
    const keyConflict = await write(b, ch, 2, [{ field: 'address', op: 'patch', set: { street: 'Low' } }]);
    expect(keyConflict.error?.data).toEqual({ version: 3, conflicts: [{ field: 'address', key: 'street', value: 'High', version: 3, author: 'ann' }] });
  });

  it('manual: of two writes on one base to one field, one applies and the other gets 134 with the current value, version and author; rewritten on the new base it applies', async () => {
    const ch = fresh('strict');
    const a = await client('ann');
    const b = await client('bob');
    const [ra, rb] = await Promise.all([write(a, ch, 0, [set('email', 'ann@x')]), write(b, ch, 0, [set('email', 'bob@x')])]);
    const [ok, refused] = ra.error ? [rb, ra] : [ra, rb];
    const winner = ok === ra ? 'ann' : 'bob';
    expect(ok.result?.version).toBe(1);
    expect(refused.error).toMatchObject({ code: 134, temporary: false });
    const data = refused.error?.data as RecordConflictData;
    expect(data).toEqual({ version: 1, conflicts: [{ field: 'email', value: `${winner}@x`, version: 1, author: winner }] });
    expect((await read(ch)).fields['email']?.value).toBe(`${winner}@x`);
    const retried = await write(refused === ra ? a : b, ch, data.version, [set('email', 'resolved@x')]);
    expect(retried.result?.version).toBe(2);
    expect(values(await read(ch))).toEqual({ email: 'resolved@x' });
    // Another field, or a field overridden to lww, on the old base: no conflict.
    expect((await write(a, ch, 0, [set('phone', '123')])).result?.version).toBe(3);
    expect((await write(b, ch, 0, [set('note', 'lww here')])).result?.version).toBe(4);
  });

  it('a writer never conflicts with its own earlier writes of the same session', async () => {
    const ch = fresh('strict');
    const a = await client('ann');
    const [r1, r2] = await Promise.all([write(a, ch, 0, [set('email', 'a1')], { session: 's1' }), write(a, ch, 0, [set('email', 'a2')], { session: 's1' })]);
    expect([r1.result?.version, r2.result?.version]).toEqual([1, 2]);
    expect((await write(a, ch, 0, [set('email', 'other')], { session: 's2' })).error?.code).toBe(134);
  });

  it('versions are gap-free: 30 concurrent writes from three clients make versions 1..30, each pushed once', async () => {
    const ch = fresh('lww');
    const writers = [await client('w1'), await client('w2'), await client('w3')];
    const watcher = await client('watch');
    expect((await watcher.call('subscribe', { channel: ch })).error).toBeUndefined();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => write(writers[i % 3] as RawClient, ch, 0, [set(`f${i % 4}`, i)])));
    expect(results.map((r) => r.result?.version).sort((x, y) => (x as number) - (y as number))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect((await read(ch)).version).toBe(30);
    await watcher.until(() => pushes(watcher, ch).length === 30, 5000, '30 pushes');
    expect(
      pushes(watcher, ch)
        .map((p) => p.version)
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('a write retried with its idempotency key applies once', async () => {
    const ch = fresh('form');
    const a = await client('ann');
    const first = await write(a, ch, 0, [{ field: 'votes', op: 'increment', by: 1 }], { idempotencyKey: 'k1' });
    const again = await write(a, ch, 0, [{ field: 'votes', op: 'increment', by: 1 }], { idempotencyKey: 'k1' });
    expect(first.result?.version).toBe(1);
    expect(again.result).toMatchObject({ version: 1, deduplicated: true });
    expect(values(await read(ch))).toEqual({ votes: 1 });
  });

  it('the subscribe reply carries the record when asked (state.records)', async () => {
    const ch = fresh('form');
    const a = await client('ann');
    await write(a, ch, 0, [set('title', 'hello')]);
    const sub = await a.call('subscribe', { channel: ch, state: ['records'] });
    expect((sub.result?.['state'] as { records: RecordState }).records).toMatchObject({ channel: ch, version: 1, fields: { title: { value: 'hello' } } });
    expect((await a.call('records.read', { channel: ch })).result).toMatchObject({
      version: 1,
      settings: { policy: 'merge', fields: { tags: { type: 'set' } } },
    });
  });

  it('bad input gets a typed error and changes nothing', async () => {
    const ch = fresh('strict');
    const a = await client('ann');
    await write(a, ch, 0, [set('email', 'kept')]);
    const reader = await client('rita', { 'strict:*': ['subscribe'] });
    const other = await client('ann', CAPS, 'other');
    const cases: Array<[RawClient, Record<string, unknown>, number]> = [
      [a, { channel: ch, base: 1, changes: [set('__proto__', 1)] }, 107],
      [a, { channel: ch, base: 1, changes: [set('x', JSON.parse('{"a":{"__proto__":{"polluted":true}}}'))] }, 107],
      [a, { channel: ch, base: 1, changes: [{ field: 'x', op: 'increment', by: 1 }] }, 107],
      [a, { channel: ch, base: 1, changes: [{ field: 'x', op: 'add', items: [1] }] }, 107],
      [a, { channel: ch, base: 1, changes: [{ field: 'x', op: 'set' }] }, 107],
      [a, { channel: ch, base: -1, changes: [set('x', 1)] }, 107],
      [a, { channel: ch, base: 2, changes: [set('x', 1)] }, 107],
      [a, { channel: ch, base: 1, changes: [set('x', 1), set('x', 2)] }, 107],
      [a, { channel: ch, base: 1, changes: [] }, 107],
      [a, { channel: ch, base: 1, changes: [set('x', 'y'.repeat(100))] }, 114],
      [a, { channel: ch, base: 1, changes: ['a', 'b', 'c', 'd'].map((f) => set(f, 1)) }, 106],
      [a, { channel: ch, base: 1, changes: ['p', 'q', 'r'].map((f) => set(f, 'z'.repeat(48))) }, 114],
      [a, { channel: ch, base: 1, changes: [set('x', 1)], extra: true }, 107],
      [a, { channel: 'nosuch:1', base: 0, changes: [set('x', 1)] }, 102],
      [a, { channel: 'project:1', base: 0, changes: [set('x', 1)] }, 108],
      [a, { channel: 'other|strict:1', base: 0, changes: [set('x', 1)] }, 110],
      [reader, { channel: ch, base: 1, changes: [set('x', 1)] }, 103],
    ];
    for (const [c, params, code] of cases) {
      const reply = await c.call('records.write', params);
      expect(reply.error?.code, JSON.stringify(params).slice(0, 120)).toBe(code);
    }
    expect(await read(ch)).toMatchObject({ version: 1, fields: { email: { value: 'kept' } } });
    expect(Object.keys((await read(ch)).fields)).toEqual(['email']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // Another tenant's client names the same channel: its own (empty) record, never acme's.
    expect((await other.call('records.read', { channel: ch })).result).toMatchObject({ version: 0, fields: {} });
    expect(await read(ch, 'other')).toMatchObject({ version: 0, fields: {} });
    expect((await reader.call('records.read', { channel: ch })).result).toMatchObject({ version: 1 });
  });

  it("the record's size counts each field once: a replaced value's bytes are given back", async () => {
    const ch = fresh('strict');
    const a = await client('ann');
    const big = 'z'.repeat(48); // 50 bytes of JSON
    expect((await write(a, ch, 0, [set('x', big)], { session: 's' })).result?.version).toBe(1);
    expect((await write(a, ch, 1, [set('x', big)], { session: 's' })).result?.version).toBe(2);
    expect((await write(a, ch, 2, [set('y', big)], { session: 's' })).result?.version).toBe(3);
    expect((await write(a, ch, 3, [set('x', 1)], { session: 's' })).result?.version).toBe(4);
    expect((await write(a, ch, 4, [set('z', big)], { session: 's' })).result?.version).toBe(5);
    expect((await write(a, ch, 5, [set('w', big)], { session: 's' })).error?.code).toBe(114);
    expect((await read(ch)).version).toBe(5);
  });

  it('HTTP: read, write with a base version (409 / 134 on a conflict), idempotent retries, and the list', async () => {
    const ch = fresh('strict');
    const patch = (body: unknown, headers: Record<string, string> = {}) => s.api('PATCH', `/channels/${ch}/record`, { body, headers });
    const first = await patch({ userId: 'ann', base: 0, changes: [set('email', 'a@x')] }, { 'idempotency-key': `${ch}-1` });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ version: 1, fields: { email: { value: 'a@x', author: 'ann', version: 1 } } });
    expect((await patch({ userId: 'ann', base: 0, changes: [set('email', 'a@x')] }, { 'idempotency-key': `${ch}-1` })).body).toMatchObject({
      deduplicated: true,
    });
    const conflict = await patch({ userId: 'bob', base: 0, changes: [set('email', 'b@x')] });
    expect(conflict.status).toBe(409);
    const err = conflict.body['error'] as { code: number; data?: RecordConflictData };
    expect(err.code).toBe(134);
    expect(err.data).toEqual({ version: 1, conflicts: [{ field: 'email', value: 'a@x', version: 1, author: 'ann' }] });
    expectApiError(await patch({ userId: 'bob', base: 1, changes: [set('constructor', 1)] }), 400, 107);
    expectApiError(await s.api('GET', '/channels/plain:1/record'), 422, 108);
    const list = await s.api('GET', `/records?prefix=${encodeURIComponent(ch)}`);
    expect(list.body).toEqual({ records: [{ channel: ch, version: 1, updatedAt: expect.any(Number) }], nextCursor: null });
  });

  it('beforeFieldWrite hooks see every field before the write and can refuse it (nothing changes)', async () => {
    const ch = fresh('form');
    const a = await client('ann');
    const seen: string[] = [];
    const off = s.server.feature<RecordsApi>('records').beforeFieldWrite((w) => {
      seen.push(`${w.channel}/${w.field}/${w.author}`);
      if (w.field === 'locked') throw new ReplyError(ErrorCode.Locked, 'field:locked is held by rita');
    });
    try {
      expect((await write(a, ch, 0, [set('title', 't'), set('locked', 1)])).error?.code).toBe(130);
      expect((await read(ch)).version).toBe(0);
      expect((await write(a, ch, 0, [set('title', 't')])).result?.version).toBe(1);
      expect(seen).toEqual([`${ch}/title/ann`, `${ch}/locked/ann`, `${ch}/title/ann`]);
    } finally {
      off();
    }
  });
});
