import { ErrorCode } from '@switchboard/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALL_ACTIONS } from '../helpers/server.js';
import { hostileServer, replyError, TENANT_A } from './harness.js';
import type { WireClient } from './wire.js';

/**
 * Tags and filters from a hostile client: oversized, deeply nested, wrong types, prototype
 * keys, tags where the namespace has them off; a delta request of the wrong type. Each is a typed reply error (125 InvalidFilter,
 * 126 InvalidTags, 107 BadRequest, 108 NotAvailable) naming the problem; the connection and
 * its subscriptions keep working, and nothing invalid is stored.
 */

const E = ErrorCode;
const CAPS = { 'project:*': ALL_ACTIONS, 'chat:*': ALL_ACTIONS, 'quiet:*': ALL_ACTIONS };

/** `{"not":{"not":…{"tags":{"t":"v"}}}}` with `depth` filter objects in all. */
function nestedNot(depth: number): unknown {
  let f: unknown = { tags: { t: 'v' } };
  for (let i = 1; i < depth; i++) f = { not: f };
  return f;
}

interface Case {
  name: string;
  params: Record<string, unknown>;
  code: number;
  /** A word the message must contain (it names the problem). */
  says: string;
}

const filterCases: Case[] = [
  { name: 'a filter that is a string', params: { filter: 'team=eng' }, code: E.InvalidFilter.code, says: 'expected an object' },
  { name: 'a filter that is null', params: { filter: null }, code: E.InvalidFilter.code, says: 'expected an object' },
  { name: 'a filter that is an array', params: { filter: [{ tags: { a: 'b' } }] }, code: E.InvalidFilter.code, says: 'expected an object' },
  { name: 'an empty filter object', params: { filter: {} }, code: E.InvalidFilter.code, says: 'exactly one of' },
  {
    name: 'two operators in one object',
    params: { filter: { tags: { a: 'b' }, not: { tags: { a: 'c' } } } },
    code: E.InvalidFilter.code,
    says: 'exactly one of',
  },
  { name: 'an unknown operator', params: { filter: { xor: [] } }, code: E.InvalidFilter.code, says: 'unknown key' },
  { name: 'a __proto__ operator', params: { filter: JSON.parse('{"__proto__":{"tags":{"a":"b"}}}') }, code: E.InvalidFilter.code, says: 'unknown key' },
  { name: 'and with an empty list', params: { filter: { and: [] } }, code: E.InvalidFilter.code, says: 'non-empty array' },
  { name: 'or with an object', params: { filter: { or: { tags: { a: 'b' } } } }, code: E.InvalidFilter.code, says: 'non-empty array' },
  { name: 'empty tags', params: { filter: { tags: {} } }, code: E.InvalidFilter.code, says: 'at least one tag' },
  { name: 'a numeric tag value', params: { filter: { tags: { level: 3 } } }, code: E.InvalidFilter.code, says: 'string' },
  { name: 'an empty list of values', params: { filter: { tags: { level: [] } } }, code: E.InvalidFilter.code, says: 'non-empty array' },
  { name: 'a list with a number', params: { filter: { tags: { level: ['warn', 1] } } }, code: E.InvalidFilter.code, says: 'string' },
  { name: 'a tag value of 65 characters', params: { filter: { tags: { a: 'v'.repeat(65) } } }, code: E.InvalidFilter.code, says: 'at most 64' },
  { name: 'an empty tag name', params: { filter: { tags: { '': 'v' } } }, code: E.InvalidFilter.code, says: '1 to 64' },
  { name: 'nested 5 deep (limit 4)', params: { filter: nestedNot(5) }, code: E.InvalidFilter.code, says: 'deeper than 4' },
  {
    name: '33 tag values (limit 32)',
    params: { filter: { tags: { a: Array.from({ length: 33 }, (_, i) => `v${i}`) } } },
    code: E.InvalidFilter.code,
    says: 'more than 32',
  },
  {
    name: '33 leaves spread over an or',
    params: { filter: { or: Array.from({ length: 33 }, (_, i) => ({ tags: { a: `v${i}` } })) } },
    code: E.InvalidFilter.code,
    says: 'more than 32',
  },
  {
    name: 'a 2.6 KB filter (limit 2048 bytes)',
    params: { filter: { or: Array.from({ length: 20 }, (_, i) => ({ tags: { [`${i}`.padEnd(60, 'k')]: 'v'.repeat(60) } })) } },
    code: E.InvalidFilter.code,
    says: 'bytes',
  },
  {
    name: 'a filter in a namespace with tags off',
    params: { channel: 'quiet:1', filter: { tags: { a: 'b' } } },
    code: E.NotAvailable.code,
    says: 'tags are off',
  },
];

const tagCases: Case[] = [
  { name: 'tags as a string', params: { tags: 'team=eng' }, code: E.BadRequest.code, says: '' },
  { name: 'tags as an array', params: { tags: ['team'] }, code: E.BadRequest.code, says: '' },
  { name: 'a numeric tag value', params: { tags: { level: 3 } }, code: E.BadRequest.code, says: '' },
  { name: 'a list as a tag value', params: { tags: { level: ['warn'] } }, code: E.BadRequest.code, says: '' },
  {
    name: '17 tags (limit 16)',
    params: { tags: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'])) },
    code: E.InvalidTags.code,
    says: 'more than 16',
  },
  { name: 'a tag name of 65 characters', params: { tags: { ['k'.repeat(65)]: 'v' } }, code: E.InvalidTags.code, says: '1 to 64' },
  { name: 'an empty tag name', params: { tags: { '': 'v' } }, code: E.InvalidTags.code, says: '1 to 64' },
  { name: 'a tag value of 10 KB', params: { tags: { a: 'v'.repeat(10_000) } }, code: E.InvalidTags.code, says: 'at most 64' },
  { name: 'tags in a namespace with tags off', params: { channel: 'quiet:1', tags: { a: 'b' } }, code: E.NotAvailable.code, says: 'tags are off' },
];

describe('hostile tags and filters', () => {
  const ctx = hostileServer({
    namespaces: {
      project: {},
      chat: {},
      analytics: { clientPublish: false, presence: false },
      user: { subscribe: 'owner', clientPublish: false, presence: false },
      system: { subscribe: 'authenticated', clientPublish: false, presence: false, signals: false },
      quiet: { tags: false },
    },
  });
  let victim: WireClient;
  let n = 0;

  /** The victim's filtered subscription still delivers what matches, and only that. */
  async function expectFilteredWorks(): Promise<void> {
    const mine = ++n;
    const pub = await ctx().connect('pat', { caps: CAPS });
    expect((await pub.call('publish', { channel: 'project:ok', data: { n: mine, skip: true }, tags: { team: 'ops' } }))['error']).toBeUndefined();
    expect((await pub.call('publish', { channel: 'project:ok', data: { n: mine }, tags: { team: 'eng' } }))['error']).toBeUndefined();
    await victim.waitJson((f) => f['push'] === 'pub' && (f['data'] as { n?: number })?.n === mine);
    expect(victim.json.some((f) => f['push'] === 'pub' && (f['data'] as { skip?: boolean })?.skip)).toBe(false);
    pub.destroy();
  }

  beforeAll(async () => {
    victim = await ctx().connect('victor', { caps: CAPS });
    expect((await victim.call('subscribe', { channel: 'project:ok', filter: { tags: { team: 'eng' } } }))['error']).toBeUndefined();
  });

  it.each(filterCases)('subscribe with $name → $code', async (tc) => {
    const err = replyError(await victim.call('subscribe', { channel: 'project:f', ...tc.params }));
    expect(err.code).toBe(tc.code);
    expect(err.message).toContain(tc.says);
    expect(victim.close).toBeNull();
    await expectFilteredWorks();
  });

  it.each([['xdelta'], [true], [1], [{ kind: 'fossil' }]])('subscribe with delta %j → 107, the connection keeps working', async (delta) => {
    const err = replyError(await victim.call('subscribe', { channel: 'project:d', delta }));
    expect(err.code).toBe(E.BadRequest.code);
    await expectFilteredWorks();
  });

  it('a filter nested exactly 4 deep with 32 leaves is accepted', async () => {
    const c = await ctx().connect('ok', { caps: CAPS });
    const leaves = { tags: { a: Array.from({ length: 31 }, (_, i) => `v${i}`) } };
    const reply = await c.call('subscribe', { channel: 'project:deep', filter: { and: [nestedNot(3), leaves] } });
    expect(reply['error']).toBeUndefined();
    c.destroy();
  });

  it('a filter 5,000 levels deep is refused by the frame depth limit (107) before it is looked at', async () => {
    const c = await ctx().connect('deep', { caps: CAPS });
    c.text(`{"id":5,"method":"subscribe","params":{"channel":"project:x","filter":${'{"not":'.repeat(5000)}{"tags":{"a":"b"}}${'}'.repeat(5000)}}}`);
    expect(replyError(await c.reply(5)).code).toBe(E.BadRequest.code);
    c.destroy();
  });

  it.each(tagCases)('publish with $name → $code, nothing stored', async (tc) => {
    const channel = (tc.params['channel'] as string | undefined) ?? 'project:tags';
    const before = (await victim.call('history', { channel: 'project:tags' }))['result'] as { offset: number };
    const err = replyError(await victim.call('publish', { channel, data: 1, ...tc.params }));
    expect(err.code).toBe(tc.code);
    expect(err.message).toContain(tc.says);
    const after = (await victim.call('history', { channel: 'project:tags' }))['result'] as { offset: number };
    expect(after.offset).toBe(before.offset);
    await expectFilteredWorks();
  });

  it('oversized tags over HTTP publish and batch are 422 with code 126; wrong types are 400', async () => {
    const headers = { authorization: `Bearer ${ctx().s.tenantKeys[TENANT_A]}`, 'content-type': 'application/json' };
    const post = (path: string, body: unknown) => fetch(`${ctx().s.httpUrl}/api/v1/${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const big = await post('publish', { channel: 'project:http', data: 1, tags: { a: 'x'.repeat(100) } });
    expect(big.status).toBe(422);
    expect(((await big.json()) as { error: { code: number } }).error.code).toBe(E.InvalidTags.code);
    const wrong = await post('publish', { channel: 'project:http', data: 1, tags: { a: 1 } });
    expect(wrong.status).toBe(400);
    const off = await post('publish', { channel: 'quiet:1', data: 1, tags: { a: 'b' } });
    expect(off.status).toBe(422);
    expect(((await off.json()) as { error: { code: number } }).error.code).toBe(E.NotAvailable.code);
    const batch = await post('batch', {
      publications: [{ channel: 'project:http', data: 1, tags: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'])) }],
    });
    const results = ((await batch.json()) as { results: Array<{ error?: { code: number } }> }).results;
    expect(results[0]?.error?.code).toBe(E.InvalidTags.code);
    const history = (await victim.call('history', { channel: 'project:http' }))['result'] as { offset: number };
    expect(history.offset).toBe(0);
  });

  it('prototype keys in tags and filters are plain names: inherited properties never match', async () => {
    const c = await ctx().connect('proto', { caps: CAPS });
    const channel = 'project:proto';
    expect(
      (await c.call('subscribe', { channel, filter: { or: [{ tags: { constructor: ['x', 'y'] } }, { tags: { toString: 'x' } }] } }))['error'],
    ).toBeUndefined();
    const pub = await ctx().connect('pat2', { caps: CAPS });
    // No tags, then tags without those names: inherited `constructor` / `toString` must not count.
    expect((await pub.call('publish', { channel, data: 'none' }))['error']).toBeUndefined();
    expect((await pub.call('publish', { channel, data: 'other', tags: { team: 'x' } }))['error']).toBeUndefined();
    expect((await pub.call('publish', { channel, data: 'hit', tags: { constructor: 'y' } }))['error']).toBeUndefined();
    await c.waitJson((f) => f['push'] === 'pub' && f['data'] === 'hit');
    expect(c.json.filter((f) => f['push'] === 'pub').map((f) => f['data'])).toEqual(['hit']);
    c.destroy();
    pub.destroy();
  });
});
