import type { PubPush } from '@switchboard/protocol';
import { createDelta } from 'fossil-delta';
import { describe, expect, it } from 'vitest';
import { applyFossilDelta, DeltaDecoder } from '../src/delta.js';

/** mulberry32, so a failing case can be replayed from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A text that changes a little from one call to the next, with multi-byte characters. */
function mutate(r: () => number, text: string): string {
  const pieces = ['a', 'é', '€', '😀', '"', '\\', ' ', 'xyz', '12345'];
  let out = text;
  const edits = 1 + Math.floor(r() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (out.length + 1));
    const del = Math.floor(r() * 6);
    out = out.slice(0, at) + pieces[Math.floor(r() * pieces.length)] + out.slice(at + del);
  }
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

describe('applyFossilDelta', () => {
  it('rebuilds the target of 2,000 random deltas made by fossil-delta, byte for byte', () => {
    const r = seeded(11);
    let text = 'x'.repeat(200);
    for (let i = 0; i < 2000; i++) {
      const next = i % 97 === 0 ? '' : mutate(r, text);
      const delta = createDelta(enc(text), enc(next));
      expect(applyFossilDelta(enc(text), Uint8Array.from(delta))).toEqual(enc(next));
      text = next;
    }
  });

  it('refuses a delta applied to the wrong base (checksum) and malformed deltas', () => {
    const delta = Uint8Array.from(createDelta(enc('{"a":1,"b":"hello world, hello world"}'), enc('{"a":2,"b":"hello world, hello world"}')));
    expect(() => applyFossilDelta(enc('{"a":1,"b":"hello world, HELLO world"}'), delta)).toThrow();
    for (const bad of ['', '5', '5\n', '5\n3:ab', '5\n9@0,', '5\nzz;', '5\n2~x']) expect(() => applyFossilDelta(enc('hello'), enc(bad))).toThrow();
  });
});

describe('DeltaDecoder', () => {
  const push = (data: string, delta = false): PubPush => ({ push: 'pub', channel: 'c:1', epoch: 'e', offset: 1, time: 0, data, ...(delta ? { delta } : {}) });

  it('gives values from JSON text and from deltas; undefined for a delta without its base', () => {
    const d = new DeltaDecoder();
    const first = '{"doc":"€ hello world hello world","n":1}';
    const second = '{"doc":"€ hello world hello world","n":2}';
    expect(new DeltaDecoder().decode(push(latin1(Uint8Array.from(createDelta(enc(first), enc(second)))), true))).toBeUndefined();
    expect(d.decode(push(first))).toEqual({ doc: '€ hello world hello world', n: 1 });
    expect(d.decode(push(latin1(Uint8Array.from(createDelta(enc(first), enc(second)))), true))).toEqual({ doc: '€ hello world hello world', n: 2 });
    expect(d.decode(push('not json'))).toBeUndefined();
  });
});
