import { describe, expect, it } from 'vitest';
import { ConflatedFrame, ConflationWindow, conflationKey, latestPerKey } from '../../src/core/conflation.js';
import type { StreamPublication } from '../../src/engine/broker.js';

const pub = (offset: number, data: unknown, tags?: Record<string, string>): StreamPublication => ({
  offset,
  time: 1000 + offset,
  data: JSON.stringify(data),
  ...(tags ? { tags } : {}),
});

describe('conflationKey', () => {
  it('reads a dot path into the data; strings, numbers and booleans are keys, each type apart', () => {
    expect(conflationKey('{"formId":"f1"}', ['formId'])).toBe('"f1"');
    expect(conflationKey('{"formId":1}', ['formId'])).toBe('1');
    expect(conflationKey('{"p":{"formId":true}}', ['p', 'formId'])).toBe('true');
    expect(conflationKey('{"formId":"1"}', ['formId'])).not.toBe(conflationKey('{"formId":1}', ['formId']));
  });

  it('gives no key for a missing path, null, an object, an array, a non-object payload or an inherited name', () => {
    for (const data of ['{}', '{"formId":null}', '{"formId":{}}', '{"formId":[1]}', '"text"', '7', 'null', '[{"formId":1}]', '{"p":1}']) {
      expect(conflationKey(data, ['formId'])).toBeNull();
    }
    expect(conflationKey('{"p":1}', ['p', 'formId'])).toBeNull();
    expect(conflationKey('{}', ['constructor'])).toBeNull();
    expect(conflationKey('{}', ['__proto__'])).toBeNull();
  });
});

describe('latestPerKey', () => {
  it('keeps the latest per key and every unkeyed publication, in offset order', () => {
    const pubs = [pub(1, { id: 'a', v: 1 }), pub(2, { id: 'b', v: 1 }), pub(3, { v: 'no key' }), pub(4, { id: 'a', v: 2 }), pub(5, { id: 'c', v: 1 })];
    expect(latestPerKey(pubs, ['id']).map((p) => p.offset)).toEqual([2, 3, 4, 5]);
    expect(latestPerKey([], ['id'])).toEqual([]);
  });
});

describe('ConflationWindow', () => {
  it('covers one unbroken range and delivers the latest per key of it', () => {
    const w = new ConflationWindow('id');
    expect(w.size).toBe(0);
    for (let offset = 11; offset <= 1010; offset++) {
      expect(w.follows('e1', offset)).toBe(true);
      w.add(pub(offset, { id: `k${offset % 10}`, v: offset }), 'e1');
    }
    expect(w.size).toBe(1000);
    expect(w.follows('e1', 1012)).toBe(false);
    expect(w.follows('e2', 1011)).toBe(false);
    const taken = w.take();
    expect(taken).toMatchObject({ epoch: 'e1', after: 10, offset: 1010, skipped: 990 });
    expect(taken.publications.map((p) => p.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 1001 + i));
    expect(w.size).toBe(0);
    // Empty again: any publication opens the next window.
    expect(w.follows('e2', 1)).toBe(true);
  });

  it('never conflates publications without a key', () => {
    const w = new ConflationWindow('id');
    w.add(pub(1, { v: 1 }), 'e');
    w.add(pub(2, { v: 2 }), 'e');
    w.add(pub(3, { id: 'x' }), 'e');
    expect(w.take()).toMatchObject({ after: 0, offset: 3, skipped: 0 });
  });
});

describe('ConflatedFrame', () => {
  it('encodes the window once as a pubs push, and a filtered copy over the same range', () => {
    const w = new ConflationWindow('id');
    w.add(pub(5, { id: 'a', v: 1 }, { level: 'info' }), 'ep');
    w.add(pub(6, { id: 'a', v: 2 }, { level: 'warn' }), 'ep');
    w.add(pub(7, { id: 'b', v: 1 }, { level: 'info' }), 'ep');
    const frame = new ConflatedFrame('progress:x', w.take());
    const push = JSON.parse(frame.bytes.toString()) as Record<string, unknown>;
    expect(push).toMatchObject({ push: 'pubs', channel: 'progress:x', epoch: 'ep', after: 4, offset: 7, skipped: 1 });
    expect((push['publications'] as Array<{ offset: number; data: unknown }>).map((p) => [p.offset, p.data])).toEqual([
      [6, { id: 'a', v: 2 }],
      [7, { id: 'b', v: 1 }],
    ]);
    const filtered = JSON.parse(frame.filtered((p) => p.tags?.['level'] === 'info').toString()) as Record<string, unknown>;
    expect(filtered).toMatchObject({ after: 4, offset: 7 });
    expect((filtered['publications'] as Array<{ offset: number }>).map((p) => p.offset)).toEqual([7]);
  });
});
