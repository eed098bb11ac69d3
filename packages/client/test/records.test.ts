import { describe, expect, it } from 'vitest';
import { records } from '../src/records.js';
import { acceptConnect, createClient, flush, useFakes } from './fake-socket.js';

useFakes();

const field = (value: unknown, version: number, author = 'bob') => ({ value, version, author, updatedAt: 1 });
const SETTINGS = { policy: 'merge', fields: { tags: { type: 'set' }, position: { policy: 'lww' } } };

/** A connected client with `form:1` open, its subscribe answered with this record. */
async function opened(fields: Record<string, unknown>, version: number) {
  const client = createClient();
  client.connect();
  const socket = acceptConnect();
  const form = records(client).open('form:1');
  expect(socket.lastCommand('subscribe').params).toEqual({ channel: 'form:1', state: ['records'] });
  socket.reply('subscribe', { epoch: 'e', offset: 0, recoverable: true, state: { records: { channel: 'form:1', version, fields, settings: SETTINGS } } });
  await form.ready;
  const push = (data: object, offset: number) =>
    socket.receive({ push: 'pub', channel: 'form:1', offset, epoch: 'e', time: 1, data: { kind: 'record', replaced: [], ...data } });
  return { client, socket, form, push };
}

describe('the records SDK module', () => {
  it('takes a field only from a newer version, and bases writes on the highest version with none missing below it', async () => {
    const { socket, form, push } = await opened({ title: field('a', 3) }, 3);
    push({ version: 5, author: 'bob', fields: { title: field('c', 5) } }, 1);
    expect([form.get('title'), form.version]).toEqual(['c', 3]);
    push({ version: 4, author: 'ann', fields: { title: field('b', 4), body: field('x', 4) } }, 2);
    expect([form.get('title'), form.get('body'), form.version]).toEqual(['c', 'x', 5]);
    void form.set('title', 'd').catch(() => {});
    await flush();
    expect(socket.lastCommand('records.write').params).toMatchObject({ channel: 'form:1', base: 5, changes: [{ field: 'title', op: 'set', value: 'd' }] });
  });

  it('under merge, sends an object as the keys that differ and a set as its adds or removes; lww fields as a whole value', async () => {
    const { socket, form } = await opened(
      { address: field({ street: 'Main', city: 'Oslo', zip: '1' }, 1), tags: field(['a', 'b'], 1), position: field({ x: 1 }, 1) },
      1,
    );
    const sent = () => socket.lastCommand('records.write').params as { changes: unknown[] };
    void form.set('address', { street: 'Main', city: 'Bergen' }).catch(() => {});
    await flush();
    expect(sent().changes).toEqual([{ field: 'address', op: 'patch', set: { city: 'Bergen' }, unset: ['zip'] }]);
    void form.set('tags', ['a', 'b', 'c']).catch(() => {});
    await flush();
    expect(sent().changes).toEqual([{ field: 'tags', op: 'add', items: ['c'] }]);
    void form.set('tags', ['b']).catch(() => {});
    await flush();
    expect(sent().changes).toEqual([{ field: 'tags', op: 'remove', items: ['a'] }]);
    void form.set('position', { x: 2 }).catch(() => {});
    await flush();
    expect(sent().changes).toEqual([{ field: 'position', op: 'set', value: { x: 2 } }]);
  });

  it('tells this writer, and only it, that a value of its own was overwritten', async () => {
    const { socket, form, push } = await opened({}, 0);
    const mine: unknown[] = [];
    form.on('overwritten', (e) => mine.push(e));
    void form.set('position', { x: 1 }).catch(() => {});
    await flush();
    const session = (socket.lastCommand('records.write').params as { session: string }).session;
    push(
      { version: 2, author: 'bob', fields: { position: field({ x: 9 }, 2) }, replaced: [{ field: 'position', author: 'carl', session: 'other', version: 1 }] },
      1,
    );
    expect(mine).toEqual([]);
    push({ version: 3, author: 'bob', fields: { position: field({ x: 7 }, 3) }, replaced: [{ field: 'position', author: 'alice', session, version: 1 }] }, 2);
    expect(mine).toEqual([{ field: 'position', value: { x: 7 }, author: 'bob', version: 3, replacedVersion: 1 }]);
  });
});
