import type { RecordState } from '@switchboard/protocol';
import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, STORES, startDurableServer } from './helpers.js';

/**
 * Locks on record fields, on both stores, over real sockets: in a namespace with
 * `lockedFields`, while ann holds `field:email` (the lock service over the kernel socket),
 * bob's writes to that field get 130 Locked naming the holder over the socket and the HTTP
 * API, and the record is unchanged; his other fields apply; ann writes with her fencing
 * token, and a token that is no longer the current grant is refused (131); when ann's
 * connection drops, the field is free after the grace.
 */
describe.each(STORES)('locks on record fields on %s', (store) => {
  let s: DurableServer;
  const clients: RawClient[] = [];
  let n = 0;
  const CAPS = { 'form:*': ['subscribe', 'publish', 'lock'], 'open:*': ['subscribe', 'publish', 'lock'] };

  beforeAll(async () => {
    s = await startDurableServer(store, {
      locks: { grace: '300ms' },
      namespaces: {
        user: { subscribe: 'owner', clientPublish: false, presence: false },
        form: { clientPublish: false, locks: true, records: { policy: 'lww', lockedFields: true } },
        open: { clientPublish: false, locks: true, records: { policy: 'lww' } },
      } as never,
    });
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await s?.stop();
  });

  const client = async (user: string) => {
    const c = await RawClient.connect(s.url, await s.token({ sub: user, caps: CAPS }));
    clients.push(c);
    return c;
  };
  const set = (field: string, value: unknown) => ({ field, op: 'set', value });
  const read = async (channel: string) => (await s.api('GET', `/channels/${channel}/record`)).body as unknown as RecordState;
  const value = async (channel: string, field: string) => (await read(channel)).fields[field]?.value;

  it('refuses other users’ writes to a locked field (130, holder named) over the socket and HTTP, leaves the record unchanged, and frees the field when the holder drops', async () => {
    const channel = `form:${store}-${++n}`;
    const ann = await client('ann');
    const bob = await client('bob');
    expect((await ann.call('records.write', { channel, base: 0, changes: [set('email', 'ann@example.com')] })).error).toBeUndefined();
    const grant = await ann.call('locks.acquire', { channel, key: 'field:email' });
    expect(grant.error).toBeUndefined();
    const before = await read(channel);

    const refused = await bob.call('records.write', { channel, base: before.version, changes: [set('email', 'bob@example.com'), set('name', 'Bob')] });
    expect(refused.error?.code).toBe(ErrorCode.Locked.code);
    expect((refused.error?.data as { holder: { user: string } }).holder.user).toBe('ann');
    const http = await s.api('PATCH', `/channels/${channel}/record`, { body: { userId: 'bob', base: before.version, changes: [set('email', 'over http')] } });
    expect(http.status).toBe(409);
    expect((http.body['error'] as { code: number }).code).toBe(ErrorCode.Locked.code);
    // Nothing changed: not even the free field of the refused write.
    expect(await read(channel)).toEqual(before);

    expect((await bob.call('records.write', { channel, base: before.version, changes: [set('name', 'Bob')] })).error).toBeUndefined();
    expect((await ann.call('records.write', { channel, base: before.version + 1, changes: [set('email', 'ann@new.example')] })).error).toBeUndefined();
    expect(await value(channel, 'email')).toBe('ann@new.example');

    ann.terminate();
    await eventually(
      async () => (await bob.call('records.write', { channel, base: 0, changes: [set('email', 'bob, after the grace')] })).error === undefined,
      10_000,
      'the field free after the grace',
    );
    expect(await value(channel, 'email')).toBe('bob, after the grace');
  });

  it('takes a write with the fencing token of the current grant, refuses a stale one (131) with nothing changed, and does not guard fields where the namespace does not ask', async () => {
    for (const ns of ['form', 'open']) {
      const channel = `${ns}:${store}-${++n}`;
      const ann = await client('ann');
      const first = (await ann.call('locks.acquire', { channel, key: 'field:total' })).result as { fencingToken: number };
      expect((await ann.call('records.write', { channel, base: 0, changes: [set('total', 1)], fencing: { total: first.fencingToken } })).error).toBeUndefined();
      expect((await ann.call('locks.release', { channel, key: 'field:total' })).error).toBeUndefined();
      const second = (await ann.call('locks.acquire', { channel, key: 'field:total' })).result as { fencingToken: number };
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
      const before = await read(channel);
      const stale = await ann.call('records.write', { channel, base: before.version, changes: [set('total', 2)], fencing: { total: first.fencingToken } });
      expect(stale.error?.code).toBe(ErrorCode.StaleFencingToken.code);
      expect(await read(channel)).toEqual(before);
      expect(
        (await ann.call('records.write', { channel, base: before.version, changes: [set('total', 3)], fencing: { total: second.fencingToken } })).error,
      ).toBeUndefined();
      // A token for a field the write does not change is a mistake, refused.
      expect((await ann.call('records.write', { channel, base: 0, changes: [set('other', 1)], fencing: { total: second.fencingToken } })).error?.code).toBe(
        ErrorCode.BadRequest.code,
      );
      // Where the namespace does not guard fields, another user's write goes through the held lock.
      const bob = await client('bob');
      const bobs = await bob.call('records.write', { channel, base: 0, changes: [set('total', 'bob')] });
      if (ns === 'form') expect(bobs.error?.code).toBe(ErrorCode.Locked.code);
      else expect(bobs.error).toBeUndefined();
    }
  });
});
