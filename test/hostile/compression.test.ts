import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expectClosed, hostileServer } from './harness.js';
import { Op, RSV1, type WireClient } from './wire.js';

/**
 * Compressed messages from hostile clients (permessage-deflate negotiated): decompression
 * bombs, in one frame or fragmented, are closed with 1009 once the inflated size passes
 * `limits.maxMessageBytes`, without inflating the rest; corrupt deflate data and bad UTF-8
 * close with 1007; RSV1 where RFC 7692 forbids it closes with 1002. Nothing crashes, the
 * inflated data held at once stays bounded (sampled while 20 bombs arrive together), and
 * the server stays healthy for everyone else (the harness checks after every test).
 */

const SYNC = { finishFlush: constants.Z_SYNC_FLUSH };
/** §7.2.1: a sender removes the sync-flush tail from the end of a compressed message. */
const withoutTail = (b: Buffer) => b.subarray(0, b.length - 4);
const deflate = (text: string | Buffer) => withoutTail(deflateRawSync(Buffer.from(text), SYNC));

/** 1 MiB of spaces deflated alone (about 1 KB); copies of it concatenate into one valid stream. */
const MIB_SEGMENT = deflateRawSync(Buffer.alloc(1 << 20, 0x20), SYNC);
/** `mib` MiB inflated from about `mib` KB. */
const bomb = (mib: number) => withoutTail(Buffer.concat(Array.from({ length: mib }, () => MIB_SEGMENT)));

describe('hostile compressed messages', () => {
  const ctx = hostileServer();

  const open = async (): Promise<WireClient> => {
    const c = await ctx().open({ extensions: 'permessage-deflate; client_max_window_bits', answerPings: true });
    expect(c.response?.headers['sec-websocket-extensions']).toContain('permessage-deflate');
    return c;
  };

  it('the bomb is what it claims: 60 MiB from under 64 KB', () => {
    const b = bomb(60);
    expect(b.length).toBeLessThan(ctx().s.server.config.limits.maxMessageBytes);
    expect(inflateRawSync(Buffer.concat([b, Buffer.from([0, 0, 0xff, 0xff])]), SYNC).length).toBe(60 << 20);
  });

  it('a compressed command is inflated and answered', async () => {
    const c = await open();
    c.send({ opcode: Op.Text, payload: deflate('{"id":1,"method":"ping"}'), rsv: RSV1 });
    const reply = await c.reply(1);
    expect(reply['error'] ?? reply['result']).toBeDefined();
  });

  it('a 60 MiB decompression bomb in one frame closes with 1009', async () => {
    const c = await open();
    c.send({ opcode: Op.Text, payload: bomb(60), rsv: RSV1 });
    await expectClosed(c, 1009);
  });

  it('a decompression bomb fragmented over 30 frames closes with 1009', async () => {
    const c = await open();
    const b = bomb(60);
    const step = Math.ceil(b.length / 30);
    const parts = Array.from({ length: 30 }, (_, i) => b.subarray(i * step, (i + 1) * step));
    c.sendAll(
      parts.map((payload, i) => ({
        opcode: i === 0 ? Op.Text : Op.Continuation,
        payload,
        fin: i === parts.length - 1,
        ...(i === 0 ? { rsv: RSV1 } : {}),
      })),
    );
    await expectClosed(c, 1009);
  });

  it('a message inflating to one byte over the limit closes with 1009', async () => {
    const c = await open();
    const limit = ctx().s.server.config.limits.maxMessageBytes;
    c.send({ opcode: Op.Text, payload: deflate(Buffer.alloc(limit + 1, 0x20)), rsv: RSV1 });
    await expectClosed(c, 1009);
  });

  it('20 connections sending bombs at once all close with 1009', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => open()));
    const b = bomb(60);
    for (const c of clients) c.send({ opcode: Op.Text, payload: b, rsv: RSV1 });
    await Promise.all(clients.map((c) => expectClosed(c, 1009)));
  });

  it("20 bombs at once never hold more than a bounded amount of inflated data in the server's process", async () => {
    // 20 × 60 MiB would be 1.2 GiB inflated; the server stops inflating each at the limit.
    const clients = await Promise.all(Array.from({ length: 20 }, () => open()));
    const b = bomb(60);
    const held = () => {
      const m = process.memoryUsage();
      return m.external + m.arrayBuffers;
    };
    const base = held();
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, held());
    }, 1);
    try {
      for (const c of clients) c.send({ opcode: Op.Text, payload: b, rsv: RSV1 });
      await Promise.all(clients.map((c) => expectClosed(c, 1009)));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, held());
    expect(peak - base).toBeLessThan(128 << 20);
  });

  it('corrupt deflate data closes with 1007', async () => {
    const c = await open();
    c.send({ opcode: Op.Text, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x11]), rsv: RSV1 });
    await expectClosed(c, 1007);
  });

  it('compressed text that inflates to invalid UTF-8 closes with 1007', async () => {
    const c = await open();
    c.send({ opcode: Op.Text, payload: deflate(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), rsv: RSV1 });
    await expectClosed(c, 1007);
  });

  it('RSV1 on a continuation frame closes with 1002', async () => {
    const c = await open();
    const payload = deflate('{"id":1,"method":"ping"}');
    c.sendAll([
      { opcode: Op.Text, payload: payload.subarray(0, 4), fin: false, rsv: RSV1 },
      { opcode: Op.Continuation, payload: payload.subarray(4), rsv: RSV1 },
    ]);
    await expectClosed(c, 1002);
  });

  it('RSV1 on a ping closes with 1002', async () => {
    const c = await open();
    c.send({ opcode: Op.Ping, payload: deflate('x'), rsv: RSV1 });
    await expectClosed(c, 1002);
  });
});
