import type { RecordChange } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { recordRules, recordsConfig } from '../../src/features/records/config.js';
import { decide, MAX_TOMBSTONES, type StoredField, type Writer } from '../../src/features/records/policy.js';

const config = recordsConfig.parse({});
const rules = (option: unknown) => {
  const r = recordRules(config, option);
  if (!r) throw new Error('records off');
  return r;
};
const ann: Writer = { author: 'ann', session: 'sa' };
const bob: Writer = { author: 'bob', session: 'sb' };
const field = (value: unknown, version: number, by: Writer, keys: StoredField['keys'] = null): StoredField => ({ value, version, ...by, updatedAt: 1, keys });
const run = (stored: Record<string, StoredField>, base: number, changes: RecordChange[], writer: Writer, option: unknown = true) =>
  decide(new Map(Object.entries(stored)), { base, changes, writer }, rules(option), 11, 99);
const set = (f: string, value: unknown): RecordChange => ({ field: f, op: 'set', value });

describe('record policies (decide)', () => {
  it('lww applies and names the value of another writer it replaced unseen, not one it had seen or its own', () => {
    const stored = { title: field('bob', 10, bob), body: field('ann', 10, ann), note: field('bob', 5, bob) };
    const out = run(stored, 7, [set('title', 'a'), set('body', 'a'), set('note', 'a')], ann, { policy: 'lww' });
    expect(out).toEqual({ ok: true, fields: expect.any(Map), replaced: [{ field: 'title', author: 'bob', session: 'sb', version: 10 }] });
    if (out.ok) expect(out.fields.get('title')).toEqual({ value: 'a', version: 11, author: 'ann', session: 'sa', updatedAt: 99, keys: null });
  });

  it('manual refuses a field another writer changed since the base, with its value, version and author, and the whole write with it', () => {
    const stored = { email: field('b@x', 10, bob) };
    expect(run(stored, 9, [set('phone', '1'), set('email', 'a@x')], ann, { policy: 'manual' })).toEqual({
      ok: false,
      conflicts: [{ field: 'email', value: 'b@x', version: 10, author: 'bob' }],
    });
    expect(run(stored, 10, [set('email', 'a@x')], ann, { policy: 'manual' }).ok).toBe(true);
    expect(run(stored, 9, [set('email', 'b2@x')], bob, { policy: 'manual' }).ok).toBe(true);
    // Over HTTP (no session) the writer is the user.
    expect(
      run({ email: field('b@x', 10, { author: 'bob', session: null }) }, 9, [set('email', 'x')], { author: 'bob', session: null }, { policy: 'manual' }).ok,
    ).toBe(true);
  });

  it('merge takes object keys one by one: another key applies, the same key (set or unset since) conflicts', () => {
    const mark = (version: number, by: Writer) => ({ version, ...by });
    const stored = { address: field({ street: 'Main', city: 'Oslo' }, 10, bob, { street: mark(10, bob), city: mark(3, ann), zip: mark(10, bob) }) };
    const ok = run(stored, 5, [{ field: 'address', op: 'patch', set: { city: 'Bergen' } }], ann);
    expect(ok.ok && ok.fields.get('address')?.value).toEqual({ street: 'Main', city: 'Bergen' });
    expect(run(stored, 5, [{ field: 'address', op: 'patch', set: { street: 'High' } }], ann)).toEqual({
      ok: false,
      conflicts: [{ field: 'address', key: 'street', value: 'Main', version: 10, author: 'bob' }],
    });
    expect(run(stored, 5, [{ field: 'address', op: 'patch', set: { zip: '1' } }], ann)).toMatchObject({ ok: false, conflicts: [{ key: 'zip', value: null }] });
    expect(run(stored, 5, [set('address', { street: 'x' })], ann)).toMatchObject({ ok: false, conflicts: [{ field: 'address' }] });
  });

  it('merge applies set adds and removes and counter deltas whatever landed since the base', () => {
    const option = { fields: { tags: { type: 'set' }, votes: { type: 'counter' } } };
    const stored = { tags: field(['a', 'b'], 10, bob), votes: field(4, 10, bob) };
    const out = run(
      stored,
      0,
      [
        { field: 'tags', op: 'add', items: ['c', 'a', 'c'] },
        { field: 'votes', op: 'increment', by: -6 },
      ],
      ann,
      option,
    );
    expect(out.ok && [out.fields.get('tags')?.value, out.fields.get('votes')?.value]).toEqual([['a', 'b', 'c'], -2]);
    const removed = run(stored, 0, [{ field: 'tags', op: 'remove', items: ['a', 'zz'] }], ann, option);
    expect(removed.ok && removed.fields.get('tags')?.value).toEqual(['b']);
  });

  it('refuses an operation the field type does not take (107)', () => {
    const option = { fields: { tags: { type: 'set' }, votes: { type: 'counter' } } };
    expect(() => run({}, 0, [{ field: 'title', op: 'increment', by: 1 }], ann, option)).toThrow(/counter/);
    expect(() => run({}, 0, [{ field: 'votes', op: 'add', items: [1] }], ann, option)).toThrow(/set field/);
    expect(() => run({}, 0, [set('votes', 'many')], ann, option)).toThrow(/number/);
    expect(() => run({}, 0, [set('tags', 'x')], ann, option)).toThrow(/array/);
    expect(() => run({}, 0, [{ field: 'tags', op: 'patch', set: { a: 1 } }], ann, option)).toThrow(/value field/);
  });

  it('per-field policies override the namespace policy', () => {
    const r = rules({ policy: 'manual', fields: { position: { policy: 'lww' } } });
    expect([r.policyOf('position'), r.policyOf('email'), r.typeOf('position')]).toEqual(['lww', 'manual', 'value']);
    expect(recordRules(config, false)).toBeNull();
    expect(rules(true).settings).toEqual({ policy: 'merge', fields: {} });
  });
});

describe('record key marks', () => {
  it('keep at most MAX_TOMBSTONES marks of unset keys, the newest', () => {
    const unset = Array.from({ length: MAX_TOMBSTONES + 10 }, (_, i) => `k${i}`);
    const out = decide(
      new Map(),
      { base: 0, changes: [{ field: 'o', op: 'patch', set: { a: 1 }, unset }], writer: { author: 'ann', session: null } },
      recordRules(recordsConfig.parse({}), true) as never,
      1,
      1,
    );
    expect(out.ok && Object.keys(out.fields.get('o')?.keys ?? {}).length).toBe(MAX_TOMBSTONES + 1);
  });
});
