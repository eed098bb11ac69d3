import { describe, expect, it } from 'vitest';
import { decodeServerMessage, encodeFrame, encodeFrames, FRAME_SEPARATOR, jsonDepth, splitFrames } from '../src/codec.js';

describe('splitFrames', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['{"id":1}', ['{"id":1}']],
    ['{"id":1}\n{"id":2}', ['{"id":1}', '{"id":2}']],
    ['{"id":1}\n', ['{"id":1}']],
    ['\n{"id":1}', ['{"id":1}']],
    ['\n\n{"id":1}\n\n\n{"id":2}\n\n', ['{"id":1}', '{"id":2}']],
    ['\n', []],
    ['\n\n\n', []],
    [' \t \n{"id":1}\n   ', ['{"id":1}']],
  ])('splits %j into %j', (message, frames) => {
    expect(splitFrames(message)).toEqual(frames);
  });

  it('keeps a frame text as is, surrounding spaces included', () => {
    expect(splitFrames(' {"a":1} \n{"b":2}\r')).toEqual([' {"a":1} ', '{"b":2}\r']);
  });

  it('splits on "\\n" only, not on other line terminators', () => {
    expect(splitFrames('{"a":"x\u2028y"}\r{"b":1}')).toEqual(['{"a":"x\u2028y"}\r{"b":1}']);
  });

  it('splits a large batch without losing or merging frames', () => {
    const frames = Array.from({ length: 10_000 }, (_, i) => `{"id":${i}}`);
    expect(splitFrames(frames.join('\n'))).toEqual(frames);
  });
});

describe('encodeFrame / encodeFrames / decodeServerMessage', () => {
  it('encodes frames as JSON joined by the separator', () => {
    expect(FRAME_SEPARATOR).toBe('\n');
    expect(encodeFrame({ id: 1, result: {} })).toBe('{"id":1,"result":{}}');
    expect(encodeFrames([{ id: 1 }, { id: 2 }])).toBe('{"id":1}\n{"id":2}');
    expect(encodeFrames([])).toBe('');
  });

  it('never splits a frame whose strings contain newlines or Unicode separators', () => {
    const frames = [
      { push: 'pub', channel: 'chat:x', data: { text: 'line1\nline2\r\n', sep: '\u2028\u2029', emoji: '😀' } },
      { id: 7, result: { __proto__: null, s: '\\n' } },
    ];
    const message = encodeFrames(frames);
    expect(splitFrames(message)).toHaveLength(2);
    expect(decodeServerMessage(message)).toEqual(JSON.parse(JSON.stringify(frames)));
  });

  it('decodes a message of frames with blank lines between them', () => {
    expect(decodeServerMessage('{"id":1,"result":{}}\n\n{"push":"pub"}\n')).toEqual([{ id: 1, result: {} }, { push: 'pub' }]);
  });

  it('throws SyntaxError on a frame that is not JSON', () => {
    expect(() => decodeServerMessage('{"id":1}\n{oops}')).toThrow(SyntaxError);
  });
});

/** A value nested `depth` levels deep, built without recursion. */
function nested(depth: number, kind: 'array' | 'object' = 'array'): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

describe('jsonDepth', () => {
  it.each<[string, unknown, number]>([
    ['a number', 1, 0],
    ['a string', 's', 0],
    ['null', null, 0],
    ['an empty object', {}, 1],
    ['an empty array', [], 1],
    ['a flat object', { a: 1, b: 's', c: null }, 1],
    ['an object in an object', { a: { b: 1 } }, 2],
    ['three nested arrays', [[[]]], 3],
    ['a deep branch beside a shallow one', [1, [2, [3]], { a: {} }], 3],
    ['an object holding arrays', { a: [1, { b: [{}] }] }, 5],
  ])('measures %s', (_label, value, depth) => {
    expect(jsonDepth(value, 100)).toBe(depth);
  });

  it('measures 100 000 levels of nesting without overflowing the stack', () => {
    expect(jsonDepth(nested(100_000), 1_000_000)).toBe(100_000);
    expect(jsonDepth(nested(100_000, 'object'), 1_000_000)).toBe(100_000);
  });

  it('measures a 100 000-deep value parsed from frame text', () => {
    const text = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(jsonDepth(JSON.parse(text), 1_000_000)).toBe(100_000);
  });

  it('stops one level past the limit', () => {
    expect(jsonDepth(nested(100_000), 32)).toBe(33);
    expect(jsonDepth(nested(32), 32)).toBe(32);
    expect(jsonDepth(nested(33), 32)).toBe(33);
  });

  it('stops early instead of walking the rest of a large value', () => {
    let reads = 0;
    /** A chain of objects whose single property counts reads, so visiting a node is observable. */
    const chain = (depth: number): unknown => {
      let v: unknown = 0;
      for (let i = 0; i < depth; i++) {
        const inner = v;
        v = Object.defineProperty({}, 'next', {
          enumerable: true,
          get: () => {
            reads += 1;
            return inner;
          },
        });
      }
      return v;
    };
    const root = Array.from({ length: 200 }, () => chain(500));
    expect(jsonDepth(root, 10)).toBe(11);
    // A full walk reads 100 000 properties; stopping at the limit reads a few hundred at most.
    expect(reads).toBeLessThan(5_000);
  });
});
