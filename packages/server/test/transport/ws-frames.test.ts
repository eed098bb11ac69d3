import { describe, expect, it } from 'vitest';
import { Receiver } from 'ws';
import { FrameCache, frame, joinedTextFrame, textFrame } from '../../src/transport/ws-frames.js';

/** Parse frames with the ws library's own receiver (client side: server frames are unmasked). */
function parse(bytes: Buffer): string[] {
  const messages: string[] = [];
  const errors: Error[] = [];
  const receiver = new Receiver({ isServer: false });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    expect(isBinary).toBe(false);
    messages.push(data.toString('utf8'));
  });
  receiver.on('error', (err: Error) => errors.push(err));
  receiver.write(bytes);
  expect(errors).toEqual([]);
  return messages;
}

describe('pre-built WebSocket text frames', () => {
  it.each([0, 1, 125, 126, 127, 65535, 65536, 70_000])('frames a %i-byte payload that ws reads back exactly', (size) => {
    const payload = Buffer.alloc(size, 'a');
    const frame = textFrame(payload);
    expect(frame.length).toBe(size + (size < 126 ? 2 : size < 65536 ? 4 : 10));
    expect(parse(frame)).toEqual([payload.toString()]);
  });

  it('joins several payloads into one message separated by newlines', () => {
    const parts = ['{"a":1}', '{"b":"é"}', '{"c":[1,2,3]}'].map((s) => Buffer.from(s));
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    expect(parse(joinedTextFrame(parts, 3, bytes))).toEqual(['{"a":1}\n{"b":"é"}\n{"c":[1,2,3]}']);
    // Only the first `count` payloads are used.
    expect(parse(joinedTextFrame(parts, 2, parts[0]!.length + parts[1]!.length))).toEqual(['{"a":1}\n{"b":"é"}']);
  });

  it('joins payloads whose total crosses the 16-bit length boundary', () => {
    const parts = [Buffer.alloc(40_000, 'x'), Buffer.alloc(30_000, 'y')];
    const [msg] = parse(joinedTextFrame(parts, 2, 70_000));
    expect(msg).toBe(`${'x'.repeat(40_000)}\n${'y'.repeat(30_000)}`);
  });

  it('frames a payload once while it is the last one asked for, and a new payload anew', () => {
    const cache = new FrameCache();
    const a = Buffer.from('{"push":"pub"}');
    const b = Buffer.from('{"push":"pub"}');
    const first = cache.frame(a);
    expect(cache.frame(a)).toBe(first);
    const other = cache.frame(b);
    expect(other).not.toBe(first);
    expect(other.equals(first)).toBe(true);
    expect(parse(other)).toEqual(['{"push":"pub"}']);
  });

  it('joins the same list of payloads once for every socket that gets it, and a changed list anew', () => {
    const cache = new FrameCache();
    const a = Buffer.from('{"push":"pub","n":1}');
    const b = Buffer.from('{"push":"pub","n":2}');
    const c = Buffer.from('{"push":"pub","n":3}');
    // The caller reuses its queue array: the cache must keep its own copy of the list.
    const queue = [a, b];
    const first = cache.joined(queue, 2, a.length + b.length);
    expect(parse(first)).toEqual([`${a}\n${b}`]);
    expect(cache.joined([a, b], 2, a.length + b.length)).toBe(first);
    queue[1] = c;
    const changed = cache.joined(queue, 2, a.length + c.length);
    expect(changed).not.toBe(first);
    expect(parse(changed)).toEqual([`${a}\n${c}`]);
    // Only the first `count` payloads count; a shorter list is another frame.
    expect(parse(cache.joined([a, c, b], 1, a.length))).toEqual([`${a}`]);
    expect(cache.joined([a, c], 2, a.length + c.length)).not.toBe(changed);
  });

  it.each([0, 125, 126, 65536])('frames a %i-byte binary payload that ws reads back as binary, byte for byte', (size) => {
    const payload = Buffer.from(Array.from({ length: size }, (_, i) => i % 256));
    const received: Array<{ data: Buffer; binary: boolean }> = [];
    const receiver = new Receiver({ isServer: false });
    receiver.on('message', (data: Buffer, binary: boolean) => received.push({ data, binary }));
    receiver.write(frame(payload, true));
    expect(received).toEqual([{ data: payload, binary: true }]);
  });

  it('caches a payload per kind: the same bytes as binary and as text are two frames', () => {
    const cache = new FrameCache();
    const p = Buffer.from('same bytes');
    const text = cache.frame(p);
    const binary = cache.frame(p, true);
    expect(binary[0]).toBe(0x82);
    expect(text[0]).toBe(0x81);
    expect(cache.frame(p, true)).toBe(binary);
  });
});
