import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { constants, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Receiver } from 'ws';
import { NodeStats } from '../../src/observability/stats.js';
import { DeflateFrames } from '../../src/transport/ws-deflate.js';

/** ws's own permessage-deflate, which its package entry exports only to require(). */
const { PerMessageDeflate } = createRequire(import.meta.url)('ws') as {
  PerMessageDeflate: new (options: object) => { accept(offers: object[]): object };
};

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Split one unmasked server frame into its first byte and payload. */
function unframe(frame: Buffer): { first: number; payload: Buffer } {
  const len7 = (frame[1] as number) & 0x7f;
  const at = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
  const length = len7 < 126 ? len7 : len7 === 126 ? frame.readUInt16BE(2) : Number(frame.readBigUInt64BE(2));
  expect(frame.length).toBe(at + length);
  return { first: frame[0] as number, payload: frame.subarray(at) };
}

/** Inflate one compressed message's payload as a fresh receiver does (RFC 7692 §7.2.2: append the tail). */
function inflate(payload: Buffer): string {
  return inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
}

const json = (i: number) => Buffer.from(JSON.stringify({ push: 'pub', channel: 'project:1', offset: i, data: { text: 'hello '.repeat(40), i } }));

describe('compress-once WebSocket frames', () => {
  it('a payload is deflated without a final block and ends with the sync-flush tail', () => {
    const stats = new NodeStats();
    const segment = new DeflateFrames(stats, 0).segment(json(1));
    expect(segment.subarray(-4)).toEqual(TAIL);
    expect((segment[0] as number) & 1).toBe(0);
    expect(stats.compressions).toBe(1);
  });

  it('one frame: RSV1 text, inflates to the payload with a fresh inflater', () => {
    const frames = new DeflateFrames(new NodeStats(), 0);
    const { first, payload } = unframe(frames.frame(json(7)));
    expect(first).toBe(0xc1);
    expect(inflate(payload)).toBe(json(7).toString());
  });

  it('a binary payload gets RSV1 binary frames', () => {
    const bytes = randomBytes(3000);
    const { first, payload } = unframe(new DeflateFrames(new NodeStats(), 0).frame(bytes, true));
    expect(first).toBe(0xc2);
    expect(inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH })).toEqual(bytes);
  });

  it('a batch is the payloads segments joined by a newline segment: one message, byte-identical', () => {
    const payloads = [json(1), Buffer.from('{"id":1,"result":{}}'), json(2), randomBytes(500).toString('base64url')].map((p) => Buffer.from(p));
    const { first, payload } = unframe(new DeflateFrames(new NodeStats(), 0).joined(payloads, 3));
    expect(first).toBe(0xc1);
    expect(inflate(payload)).toBe(payloads.slice(0, 3).join('\n'));
  });

  it('each payload is deflated once however many batches and frames carry it', () => {
    const stats = new NodeStats();
    const frames = new DeflateFrames(stats, 0);
    const shared = [json(1), json(2), json(3)];
    const outs = [];
    for (let i = 0; i < 50; i++) outs.push(frames.joined([...shared, Buffer.from(`{"id":${i}}`)], 4));
    for (let i = 0; i < 50; i++) outs.push(frames.frame(shared[1] as Buffer));
    expect(stats.compressions).toBe(3 + 50);
    expect(stats.compressedMessages).toBe(100);
    expect(inflate(unframe(outs[49] as Buffer).payload)).toBe([...shared, Buffer.from('{"id":49}')].join('\n'));
  });

  it('ws own receiver reads the frames, one after another on one connection', async () => {
    const frames = new DeflateFrames(new NodeStats(), 0);
    const big = Buffer.from(JSON.stringify({ data: 'x'.repeat(70_000) }));
    const bytes = Buffer.concat([frames.frame(json(1)), frames.joined([json(2), json(3)], 2), frames.frame(big)]);
    const got = await new Promise<string[]>((resolve, reject) => {
      const all: string[] = [];
      const deflate = new PerMessageDeflate({ isServer: false });
      deflate.accept([{ server_no_context_takeover: [true], client_no_context_takeover: [true], client_max_window_bits: ['10'] }]);
      const receiver = new Receiver({ isServer: false, extensions: { 'permessage-deflate': deflate } });
      receiver.on('message', (data: Buffer) => {
        all.push(data.toString('utf8'));
        if (all.length === 3) resolve(all);
      });
      receiver.on('error', reject);
      receiver.write(bytes);
    });
    expect(got).toEqual([json(1).toString(), `${json(2)}\n${json(3)}`, big.toString()]);
  });
});
