import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectClosed, hostileServer } from './harness.js';
import { chunks, closePayload, encodeFrame, type FrameSpec, fragmentFrames, Op, RSV1, RSV2, RSV3, type WireClient } from './wire.js';

/**
 * WebSocket framing, the Autobahn TestSuite's categories 1–7 and 9 ported in spirit: a
 * representative case list per category, each sent byte for byte by a raw client right
 * after the upgrade. Expected: valid traffic is processed (a command gets its reply, a
 * ping its pong, a valid close its echo); a protocol violation closes with 1002, invalid
 * UTF-8 with 1007, a message above `limits.maxMessageBytes` with 1009, a binary message
 * with 3501 — and the server never crashes (checked after every case by the harness).
 */

const MAX = 65_536; // limits.maxMessageBytes (the default)

/** A command that any connection may send: before `connect` it gets error 101 (a reply is all we need). */
const cmd = (id: number) => `{"id":${id},"method":"ping"}`;
/** The same command padded with JSON whitespace to exactly `size` bytes. */
const padded = (id: number, size: number) => cmd(id) + ' '.repeat(size - cmd(id).length);
const text = (payload: Buffer | string, extra: Partial<FrameSpec> = {}): FrameSpec => ({ opcode: Op.Text, payload, ...extra });
const bytes = (...b: number[]) => Buffer.from(b);
const utf8 = (s: string) => Buffer.from(s, 'utf8');
/** `{"id":N,"method":"<bytes>"}`: arbitrary bytes where the server must validate UTF-8. */
const withBytes = (id: number, raw: Buffer) => Buffer.concat([utf8(`{"id":${id},"method":"`), raw, utf8('"}')]);

type Expect = { reply: number[] } | { pongs: Buffer[]; reply?: number[] } | { close: number | null; reason?: Buffer; replies?: number[]; noPong?: true };

interface FramingCase {
  id: string;
  name: string;
  send: Array<FrameSpec | Buffer>;
  /** Write the bytes in TCP chunks of this many bytes. */
  chunk?: number;
  expect: Expect;
}

const ping125 = randomBytes(125);
const reason123 = 'r'.repeat(123);

const cases: FramingCase[] = [
  // ---- 1. Framing: text and binary messages of every length encoding ----
  { id: '1.1.1', name: 'empty text message is ignored, the next command is answered', send: [text(''), text(cmd(1))], expect: { reply: [1] } },
  ...[125, 126, 127, 128, 65_535, MAX].map(
    (size): FramingCase => ({
      id: `1.1.${size}`,
      name: `text message of ${size} bytes is answered`,
      send: [text(padded(1, size))],
      expect: { reply: [1] },
    }),
  ),
  { id: '1.1.16bit', name: 'a short payload with a non-minimal 16-bit length is accepted', send: [text(cmd(1), { lengthForm: 16 })], expect: { reply: [1] } },
  { id: '1.1.64bit', name: 'a short payload with a non-minimal 64-bit length is accepted', send: [text(cmd(1), { lengthForm: 64 })], expect: { reply: [1] } },
  { id: '1.1.batch', name: 'three frames in one message are answered in order', send: [text(`${cmd(1)}\n${cmd(2)}\n${cmd(3)}`)], expect: { reply: [1, 2, 3] } },
  ...[0, 125, 65_535].map(
    (size): FramingCase => ({
      id: `1.2.${size}`,
      name: `binary message of ${size} bytes closes with 3501`,
      send: [{ opcode: Op.Binary, payload: randomBytes(size) }],
      expect: { close: 3501 },
    }),
  ),
  { id: '1.2.json', name: 'binary message holding a valid command closes with 3501', send: [{ opcode: Op.Binary, payload: cmd(1) }], expect: { close: 3501 } },

  // ---- 2. Pings and pongs ----
  { id: '2.1', name: 'ping without payload gets an empty pong', send: [{ opcode: Op.Ping }], expect: { pongs: [Buffer.alloc(0)] } },
  {
    id: '2.2',
    name: 'ping with a text payload gets it echoed',
    send: [{ opcode: Op.Ping, payload: 'Hello, world' }],
    expect: { pongs: [utf8('Hello, world')] },
  },
  { id: '2.3', name: 'ping with 125 binary bytes gets them echoed', send: [{ opcode: Op.Ping, payload: ping125 }], expect: { pongs: [ping125] } },
  {
    id: '2.4',
    name: 'ping with 126 bytes (control frame too long) closes with 1002',
    send: [{ opcode: Op.Ping, payload: randomBytes(126) }],
    expect: { close: 1002 },
  },
  { id: '2.5', name: 'ping sent one byte per TCP write gets its pong', send: [{ opcode: Op.Ping, payload: ping125 }], chunk: 1, expect: { pongs: [ping125] } },
  { id: '2.6', name: 'unsolicited empty pong is ignored', send: [{ opcode: Op.Pong }, text(cmd(1))], expect: { reply: [1] } },
  { id: '2.7', name: 'unsolicited pong with payload is ignored', send: [{ opcode: Op.Pong, payload: 'unsolicited' }, text(cmd(1))], expect: { reply: [1] } },
  {
    id: '2.8',
    name: 'pong then ping: only the ping is answered',
    send: [
      { opcode: Op.Pong, payload: 'a' },
      { opcode: Op.Ping, payload: 'b' },
    ],
    expect: { pongs: [utf8('b')] },
  },
  {
    id: '2.9',
    name: 'ten pings in one write get ten pongs in order',
    send: Array.from({ length: 10 }, (_, i) => ({ opcode: Op.Ping, payload: `p${i}` })),
    expect: { pongs: Array.from({ length: 10 }, (_, i) => utf8(`p${i}`)) },
  },
  {
    id: '2.10',
    name: 'ping with a 16-bit length field (even for 10 bytes) closes with 1002',
    send: [{ opcode: Op.Ping, payload: randomBytes(10), lengthForm: 16 }],
    expect: { close: 1002 },
  },

  // ---- 3. Reserved bits ----
  { id: '3.1', name: 'text with RSV1 (no extension negotiated) closes with 1002', send: [text(cmd(1), { rsv: RSV1 })], expect: { close: 1002 } },
  {
    id: '3.2',
    name: 'valid text, then text with RSV2 in the same write closes with 1002',
    send: [text(cmd(1)), text(cmd(2), { rsv: RSV2 })],
    expect: { close: 1002 },
  },
  { id: '3.3', name: 'text with RSV3 closes with 1002', send: [text(cmd(1), { rsv: RSV3 })], expect: { close: 1002 } },
  { id: '3.4', name: 'text with RSV1+2+3 closes with 1002', send: [text(cmd(1), { rsv: RSV1 | RSV2 | RSV3 })], expect: { close: 1002 } },
  { id: '3.5', name: 'binary with RSV2 closes with 1002', send: [{ opcode: Op.Binary, payload: 'x', rsv: RSV2 }], expect: { close: 1002 } },
  { id: '3.6', name: 'ping with RSV3 closes with 1002', send: [{ opcode: Op.Ping, payload: 'x', rsv: RSV3 }], expect: { close: 1002 } },
  { id: '3.7', name: 'close with RSV1 closes with 1002', send: [{ opcode: Op.Close, payload: closePayload(1000), rsv: RSV1 }], expect: { close: 1002 } },
  {
    id: '3.8',
    name: 'continuation with RSV1 closes with 1002',
    send: [text('{"id":1,', { fin: false }), { opcode: Op.Continuation, payload: '"method":"ping"}', rsv: RSV1 }],
    expect: { close: 1002 },
  },

  // ---- 4. Opcodes ----
  ...[3, 4, 5, 6, 7].map(
    (op): FramingCase => ({
      id: `4.1.${op}`,
      name: `reserved data opcode ${op} closes with 1002`,
      send: [{ opcode: op, payload: 'reserved' }],
      expect: { close: 1002 },
    }),
  ),
  ...[0xb, 0xc, 0xd, 0xe, 0xf].map(
    (op): FramingCase => ({
      id: `4.2.${op}`,
      name: `reserved control opcode 0x${op.toString(16)} closes with 1002`,
      send: [{ opcode: op }],
      expect: { close: 1002 },
    }),
  ),
  {
    id: '4.3',
    name: 'valid text, then reserved opcode 0xb in the same write closes with 1002',
    send: [text(cmd(1)), { opcode: 0xb, payload: 'x' }],
    expect: { close: 1002 },
  },

  // ---- 5. Fragmentation ----
  {
    id: '5.1',
    name: 'fragmented ping closes with 1002',
    send: [
      { opcode: Op.Ping, payload: 'frag', fin: false },
      { opcode: Op.Continuation, payload: 'ment', fin: true },
    ],
    expect: { close: 1002 },
  },
  {
    id: '5.2',
    name: 'fragmented pong closes with 1002',
    send: [
      { opcode: Op.Pong, payload: 'frag', fin: false },
      { opcode: Op.Continuation, payload: 'ment', fin: true },
    ],
    expect: { close: 1002 },
  },
  { id: '5.3', name: 'text in two fragments is answered', send: fragmentFrames(Op.Text, ['{"id":1,', '"method":"ping"}']), expect: { reply: [1] } },
  {
    id: '5.4',
    name: 'text in two fragments, one byte per TCP write, is answered',
    send: fragmentFrames(Op.Text, ['{"id":1,', '"method":"ping"}']),
    chunk: 1,
    expect: { reply: [1] },
  },
  {
    id: '5.5',
    name: 'text fragmented one character per frame is answered',
    send: fragmentFrames(Op.Text, [...cmd(1)]),
    expect: { reply: [1] },
  },
  {
    id: '5.6',
    name: 'ping between two fragments is answered first, then the message',
    send: [text('{"id":1,', { fin: false }), { opcode: Op.Ping, payload: 'mid' }, { opcode: Op.Continuation, payload: '"method":"ping"}', fin: true }],
    expect: { pongs: [utf8('mid')], reply: [1] },
  },
  {
    id: '5.7',
    name: 'empty fragments at the start, middle and end are accepted',
    send: fragmentFrames(Op.Text, ['', '{"id":1,', '', '"method":"ping"}', '']),
    expect: { reply: [1] },
  },
  {
    id: '5.8',
    name: 'continuation without a message to continue (FIN) closes with 1002',
    send: [{ opcode: Op.Continuation, payload: cmd(1), fin: true }],
    expect: { close: 1002 },
  },
  {
    id: '5.9',
    name: 'continuation without a message to continue (no FIN) closes with 1002',
    send: [{ opcode: Op.Continuation, payload: cmd(1), fin: false }],
    expect: { close: 1002 },
  },
  {
    id: '5.10',
    name: 'a new text frame inside a fragmented message closes with 1002',
    send: [text('{"id":1,', { fin: false }), text(cmd(2))],
    expect: { close: 1002 },
  },
  {
    id: '5.11',
    name: 'a binary frame inside a fragmented text message closes with 1002',
    send: [text('{"id":1,', { fin: false }), { opcode: Op.Binary, payload: 'x' }],
    expect: { close: 1002 },
  },
  { id: '5.12', name: 'fragmented close closes with 1002', send: [{ opcode: Op.Close, payload: closePayload(1000), fin: false }], expect: { close: 1002 } },
  {
    id: '5.13',
    name: 'close between fragments is echoed (the unfinished message is dropped)',
    send: [text('{"id":1,', { fin: false }), { opcode: Op.Close, payload: closePayload(1000, 'bye') }],
    expect: { close: 1000, reason: utf8('bye') },
  },
  { id: '5.14', name: 'fragmented binary message closes with 3501', send: fragmentFrames(Op.Binary, ['ab', 'cd']), expect: { close: 3501 } },

  // ---- 6. UTF-8 handling ----
  { id: '6.1', name: 'valid multi-byte UTF-8 is accepted', send: [text(withBytes(1, utf8('κόσμε-日本-🎉')))], expect: { reply: [1] } },
  {
    id: '6.2',
    name: 'a valid 4-byte code point split across fragments is accepted',
    send: fragmentFrames(Op.Text, [Buffer.concat([utf8('{"id":1,"method":"'), bytes(0xf0, 0x9f)]), Buffer.concat([bytes(0x8e, 0x89), utf8('"}')])]),
    expect: { reply: [1] },
  },
  {
    id: '6.3',
    name: 'U+FFFE and U+FFFF (noncharacters, valid UTF-8) are accepted',
    send: [text(withBytes(1, bytes(0xef, 0xbf, 0xbe, 0xef, 0xbf, 0xbf)))],
    expect: { reply: [1] },
  },
  { id: '6.4', name: 'lone continuation byte closes with 1007', send: [text(withBytes(1, bytes(0x80)))], expect: { close: 1007 } },
  { id: '6.5', name: "overlong encoding of '/' closes with 1007", send: [text(withBytes(1, bytes(0xc0, 0xaf)))], expect: { close: 1007 } },
  { id: '6.6', name: 'overlong NUL (C0 80) closes with 1007', send: [text(withBytes(1, bytes(0xc0, 0x80)))], expect: { close: 1007 } },
  {
    id: '6.7',
    name: 'UTF-16 surrogate encoded in UTF-8 (ED A0 80) closes with 1007',
    send: [text(withBytes(1, bytes(0xed, 0xa0, 0x80)))],
    expect: { close: 1007 },
  },
  { id: '6.8', name: 'code point above U+10FFFF closes with 1007', send: [text(withBytes(1, bytes(0xf4, 0x90, 0x80, 0x80)))], expect: { close: 1007 } },
  { id: '6.9', name: 'bytes FE and FF close with 1007', send: [text(withBytes(1, bytes(0xfe, 0xff)))], expect: { close: 1007 } },
  {
    id: '6.10',
    name: 'sequence truncated at the end of the message closes with 1007',
    send: [text(Buffer.concat([utf8(cmd(1)), bytes(0xe2, 0x82)]))],
    expect: { close: 1007 },
  },
  {
    id: '6.11',
    name: 'invalid UTF-8 in the first of two fragments closes with 1007',
    send: fragmentFrames(Op.Text, [withBytes(1, bytes(0xc0, 0xaf)), ' ']),
    expect: { close: 1007 },
  },
  {
    id: '6.12',
    name: 'a sequence that is invalid only across the fragment boundary closes with 1007',
    send: fragmentFrames(Op.Text, [Buffer.concat([utf8('{"id":1,"method":"'), bytes(0xe2, 0x82)]), Buffer.concat([bytes(0x28), utf8('"}')])]),
    expect: { close: 1007 },
  },
  {
    id: '6.13',
    name: 'invalid UTF-8 in a message sent one byte per fragment closes with 1007',
    send: fragmentFrames(
      Op.Text,
      [...withBytes(1, bytes(0xed, 0xbf, 0xbf))].map((b) => bytes(b)),
    ),
    expect: { close: 1007 },
  },
  {
    id: '6.14',
    name: 'a byte-order mark before the JSON is not JSON: 3501',
    send: [text(Buffer.concat([bytes(0xef, 0xbb, 0xbf), utf8(cmd(1))]))],
    expect: { close: 3501 },
  },

  // ---- 7. Close handling ----
  { id: '7.1.1', name: 'close without payload is answered with an empty close', send: [{ opcode: Op.Close }], expect: { close: null } },
  {
    id: '7.1.2',
    name: 'close 1000 with a reason is echoed',
    send: [{ opcode: Op.Close, payload: closePayload(1000, 'bye') }],
    expect: { close: 1000, reason: utf8('bye') },
  },
  {
    id: '7.1.3',
    name: 'two closes in a row: the first is echoed, the second ignored',
    send: [
      { opcode: Op.Close, payload: closePayload(1000) },
      { opcode: Op.Close, payload: closePayload(1001) },
    ],
    expect: { close: 1000 },
  },
  {
    id: '7.1.4',
    name: 'a command after the close is not executed',
    send: [{ opcode: Op.Close, payload: closePayload(1000) }, text(cmd(1))],
    expect: { close: 1000, replies: [] },
  },
  {
    id: '7.1.5',
    name: 'ping after the close is not answered',
    send: [
      { opcode: Op.Close, payload: closePayload(1000) },
      { opcode: Op.Ping, payload: 'late' },
    ],
    expect: { close: 1000, noPong: true },
  },
  { id: '7.3.1', name: '1-byte close payload closes with 1002', send: [{ opcode: Op.Close, payload: bytes(0x03) }], expect: { close: 1002 } },
  {
    id: '7.3.2',
    name: 'close with a 123-byte reason is echoed',
    send: [{ opcode: Op.Close, payload: closePayload(1000, reason123) }],
    expect: { close: 1000, reason: utf8(reason123) },
  },
  {
    id: '7.3.3',
    name: 'close with a 124-byte reason (payload 126) closes with 1002',
    send: [{ opcode: Op.Close, payload: closePayload(1000, `${reason123}r`) }],
    expect: { close: 1002 },
  },
  {
    id: '7.5.1',
    name: 'invalid UTF-8 in the close reason closes with 1007',
    send: [
      {
        opcode: Op.Close,
        payload: closePayload(
          1000,
          bytes(0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64),
        ),
      },
    ],
    expect: { close: 1007 },
  },
  ...[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999].map(
    (code): FramingCase => ({
      id: `7.7.${code}`,
      name: `valid close code ${code} is echoed`,
      send: [{ opcode: Op.Close, payload: closePayload(code) }],
      expect: { close: code },
    }),
  ),
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535].map(
    (code): FramingCase => ({
      id: `7.9.${code}`,
      name: `invalid close code ${code} closes with 1002`,
      send: [{ opcode: Op.Close, payload: closePayload(code) }],
      expect: { close: 1002 },
    }),
  ),

  // ---- 9. Limits ----
  { id: '9.1.1', name: `text message of exactly maxMessageBytes (${MAX}) is answered`, send: [text(padded(1, MAX))], expect: { reply: [1] } },
  { id: '9.1.2', name: 'text message one byte over maxMessageBytes closes with 1009', send: [text(padded(1, MAX + 1))], expect: { close: 1009 } },
  {
    id: '9.1.3',
    name: 'binary message over maxMessageBytes closes with 1009 (size is checked first)',
    send: [{ opcode: Op.Binary, payload: randomBytes(MAX + 1) }],
    expect: { close: 1009 },
  },
  {
    id: '9.1.4',
    name: 'a header announcing 1 GiB closes with 1009 before any payload is sent',
    send: [encodeFrame({ opcode: Op.Text, declaredLength: 2 ** 30 }).subarray(0, 14)],
    expect: { close: 1009 },
  },
  {
    id: '9.1.5',
    name: 'a header announcing 2^63 bytes closes with 1009',
    send: [encodeFrame({ opcode: Op.Text, declaredLength: 2 ** 63 }).subarray(0, 14)],
    expect: { close: 1009 },
  },
  {
    id: '9.2.1',
    name: 'a message in 4,000 one-byte fragments is answered',
    send: fragmentFrames(Op.Text, chunks(utf8(padded(1, 4000)), 1)),
    expect: { reply: [1] },
  },
  {
    id: '9.2.2',
    name: 'fragments whose total exceeds maxMessageBytes close with 1009',
    send: fragmentFrames(Op.Text, chunks(utf8(padded(1, MAX + 100)), 1000)),
    expect: { close: 1009 },
  },
  {
    id: '9.3.1',
    name: '300 commands in one message are answered in order',
    send: [text(Array.from({ length: 300 }, (_, i) => cmd(i + 1)).join('\n'))],
    expect: { reply: Array.from({ length: 300 }, (_, i) => i + 1) },
  },
  {
    id: '9.3.2',
    name: '300 messages in one TCP write are answered in order',
    send: Array.from({ length: 300 }, (_, i) => text(cmd(i + 1))),
    expect: { reply: Array.from({ length: 300 }, (_, i) => i + 1) },
  },
];

function encodeAll(send: FramingCase['send']): Buffer {
  return Buffer.concat(send.map((s) => (Buffer.isBuffer(s) ? s : encodeFrame(s))));
}

async function run(c: WireClient, tc: FramingCase): Promise<void> {
  const all = encodeAll(tc.send);
  if (tc.chunk) for (const part of chunks(all, tc.chunk)) c.sendRaw(part);
  else c.sendRaw(all);
  const e = tc.expect;
  if ('close' in e) {
    await expectClosed(c, e.close);
    if (e.reason) expect(c.close?.reason).toEqual(e.reason);
    if (e.replies) expect(c.json.map((f) => f['id'])).toEqual(e.replies);
    if (e.noPong) expect(c.frames.filter((f) => f.opcode === Op.Pong)).toEqual([]);
    return;
  }
  if ('pongs' in e) {
    await c.until(() => c.frames.filter((f) => f.opcode === Op.Pong).length >= e.pongs.length, 5000, 'pongs');
    expect(c.frames.filter((f) => f.opcode === Op.Pong).map((f) => f.payload)).toEqual(e.pongs);
  }
  const ids = 'reply' in e ? (e.reply ?? []) : [];
  for (const id of ids) await c.reply(id);
  expect(c.json.filter((f) => typeof f['id'] === 'number').map((f) => f['id'])).toEqual(ids);
  // Still open and still served.
  expect((await c.call('ping'))['id']).toBeDefined();
  expect(c.close).toBeNull();
}

describe('hostile framing (Autobahn categories 1–7, 9)', () => {
  const ctx = hostileServer();

  it.each(cases)('$id $name', async (tc) => {
    const c = await ctx().open();
    expect(c.upgraded).toBe(true);
    await run(c, tc);
  });

  it('a replied close ends the TCP connection from the server side', async () => {
    const c = await ctx().open({ echoClose: false });
    c.send({ opcode: Op.Close, payload: closePayload(1000) });
    await c.waitClose();
    await c.waitEnd(3000);
  });

  it('a frame from the server is never masked and never uses reserved bits', async () => {
    const c = await ctx().open();
    c.sendRaw(encodeAll([{ opcode: Op.Ping, payload: 'x' }, text(cmd(1))]));
    await c.reply(1);
    c.send({ opcode: Op.Close, payload: closePayload(1000) });
    await c.waitClose();
    expect(c.frames.length).toBeGreaterThanOrEqual(3);
    for (const f of c.frames) expect({ masked: f.masked, rsv: f.rsv }).toEqual({ masked: false, rsv: 0 });
  });
});
