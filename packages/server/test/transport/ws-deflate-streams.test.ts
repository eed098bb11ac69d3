import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Receiver } from 'ws';
import { NodeStats } from '../../src/observability/stats.js';
import { DeflateFrames } from '../../src/transport/ws-deflate.js';
import { IDLE_MS, RESET_MS, SharedStreams, StreamPosition } from '../../src/transport/ws-deflate-streams.js';

/**
 * Shared compression streams against ws's own client-side inflater with context takeover
 * (the window kept between messages, as browsers and the SDK's Node transport keep it): every
 * socket must read exactly the frames it was sent, whatever it skipped, however late its flush
 * came, whatever else it was sent compressed in between.
 */

const { PerMessageDeflate } = createRequire(import.meta.url)('ws') as {
  PerMessageDeflate: new (options: object) => { accept(offers: object[]): object };
};

/**
 * The frames of the messages in `bytes` (server frames, in order) as a client with context
 * takeover reads them, split at newlines as the SDK splits them: the first `count` frames.
 */
function read(bytes: Buffer, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const all: string[] = [];
    const deflate = new PerMessageDeflate({ isServer: false });
    deflate.accept([{ client_no_context_takeover: [true], client_max_window_bits: ['10'] }]);
    const receiver = new Receiver({ isServer: false, extensions: { 'permessage-deflate': deflate }, maxPayload: 0 });
    const timer = setTimeout(() => reject(new Error(`read ${all.length} of ${count} messages`)), 10_000);
    receiver.on('message', (data: Buffer) => {
      all.push(...data.toString('utf8').split('\n'));
      if (all.length === count) {
        clearTimeout(timer);
        resolve(all);
      }
    });
    receiver.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (count === 0) resolve(all);
    receiver.write(bytes);
  });
}

/** A seeded generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A dashboard document that changes a little from one publication to the next. */
function documentAt(channel: string, i: number, rnd: () => number): Buffer {
  const rows = Array.from({ length: 12 }, (_, k) => ({
    name: `${channel}-row-${k}`,
    label: `metric number ${k} of ${channel}`,
    v: k % 4 === 0 ? Math.floor(rnd() * 1000) : k,
  }));
  return Buffer.from(JSON.stringify({ push: 'pub', channel, offset: i, data: { rows } }));
}

interface Socket {
  pos: StreamPosition;
  channels: string[];
  /** Skips some publications of its first channel (a filter). */
  filtered: boolean;
  /** Its turn's frames are sometimes flushed a turn late (a later flush chunk). */
  lagging: boolean;
  pending: Array<{ key: string | null; payload: Buffer }>;
  out: Buffer[];
  expected: string[];
}

const THRESHOLD = 64;

/** What WsConnection does with one batch: runs of a stream from the threshold up through the streams, the rest alone or plain. */
function send(streams: SharedStreams, deflate: DeflateFrames, s: Socket): void {
  const frames = s.pending.map((p) => p.payload);
  const keys = s.pending.map((p) => p.key);
  s.pending = [];
  let loose = 0;
  let at = 0;
  const flushLoose = (end: number) => {
    if (loose >= end) return;
    const run = frames.slice(loose, end);
    const bytes = run.reduce((n, f) => n + f.length, run.length - 1);
    if (bytes < THRESHOLD) s.out.push(...run.map((f) => plain(f)));
    else {
      s.pos.clear();
      s.out.push(run.length === 1 ? deflate.frame(run[0] as Buffer) : deflate.joined(run, run.length));
    }
    s.expected.push(...run.map(String));
  };
  while (at < frames.length) {
    const key = keys[at] ?? null;
    let end = at + 1;
    while (end < frames.length && keys[end] === key) end++;
    const bytes = frames.slice(at, end).reduce((n, f) => n + f.length, end - at - 1);
    if (key !== null && bytes >= THRESHOLD) {
      flushLoose(at);
      s.out.push(streams.frame(s.pos, key, frames, at, end));
      s.expected.push(...frames.slice(at, end).map(String));
      loose = end;
    }
    at = end;
  }
  flushLoose(frames.length);
}

/** An uncompressed text frame (RSV1 clear): the inflater never sees it. */
function plain(payload: Buffer): Buffer {
  const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
}

async function run(seed: number, turns: number) {
  const rnd = random(seed);
  const stats = new NodeStats();
  const deflate = new DeflateFrames(stats, THRESHOLD);
  let now = 1_000_000;
  const streams = new SharedStreams(stats, deflate, 8, () => now);
  const channels = ['a', 'b', 'c'];
  const sockets: Socket[] = Array.from({ length: 24 }, (_, i) => ({
    pos: new StreamPosition(),
    channels: i % 6 === 5 ? ['a', 'b'] : [channels[i % 3] as string],
    filtered: i % 8 === 7,
    lagging: i % 5 === 4,
    pending: [],
    out: [],
    expected: [],
  }));
  let published = 0;
  for (let turn = 0; turn < turns; turn++) {
    now += Math.floor(rnd() * 300);
    for (const ch of channels) {
      const n = Math.floor(rnd() * 3);
      for (let k = 0; k < n; k++) {
        const payload = rnd() < 0.1 ? Buffer.from(`{"push":"pub","channel":"${ch}","small":${turn}}`) : documentAt(ch, published++, rnd);
        for (const s of sockets) {
          if (!s.channels.includes(ch)) continue;
          if (s.filtered && ch === s.channels[0] && rnd() < 0.2) continue;
          s.pending.push({ key: ch, payload });
        }
      }
    }
    for (const s of sockets) {
      // Replies and pings between publications: small ones plain, a large one compressed alone.
      if (rnd() < 0.1) s.pending.splice(Math.floor(rnd() * (s.pending.length + 1)), 0, { key: null, payload: Buffer.from(`{"id":${turn},"ok":true}`) });
      if (rnd() < 0.03) s.pending.push({ key: null, payload: Buffer.from(JSON.stringify({ id: turn, history: 'x'.repeat(500) })) });
    }
    // Sockets flush in a different order every turn; lagging ones sometimes a turn late.
    const order = [...sockets].sort(() => rnd() - 0.5);
    for (const s of order) if (s.pending.length > 0 && !(s.lagging && rnd() < 0.5)) send(streams, deflate, s);
  }
  for (const s of sockets) if (s.pending.length > 0) send(streams, deflate, s);
  return { sockets, stats, streams };
}

describe('shared compression streams (context takeover, compressed once)', () => {
  it.each([1, 2, 3, 4, 5])('seed %i: every socket reads exactly its frames with ws own inflater', async (seed) => {
    const { sockets, stats } = await run(seed, 120);
    for (const s of sockets) {
      const got = await read(Buffer.concat(s.out), s.expected.length);
      expect(got.length).toBe(s.expected.length);
      expect(got).toEqual(s.expected);
    }
    // 13 of the 24 sockets never skip, lag or mix channels: the streams carried their messages
    // (about half of all), and restarted far less often than messages were sent.
    expect(stats.sharedCompressedMessages).toBeGreaterThan(stats.compressedMessages * 0.4);
    expect(stats.compressionRestarts).toBeLessThan(stats.sharedCompressedMessages / 5);
  });

  it('sockets in step get a publication compressed once, far smaller than compressed alone', async () => {
    const stats = new NodeStats();
    const deflate = new DeflateFrames(stats, 0);
    let now = 0;
    const streams = new SharedStreams(stats, deflate, 4, () => now);
    const positions = Array.from({ length: 100 }, () => new StreamPosition());
    const rnd = random(9);
    const outs = positions.map(() => [] as Buffer[]);
    const docs: Buffer[] = [];
    let alone = 0;
    for (let i = 0; i < 50; i++) {
      now += 10;
      const doc = documentAt('a', i, rnd);
      docs.push(doc);
      alone += deflate.segment(doc).length - 4;
      const before = stats.compressions;
      for (const [k, p] of positions.entries()) outs[k]?.push(streams.frame(p, 'a', [doc], 0, 1));
      // One deflate in the stream (the first publication: once alone, which starts the stream).
      expect(stats.compressions - before).toBeLessThanOrEqual(i === 0 ? 1 : 2);
    }
    const shared = outs[0]?.reduce((n, f) => n + f.length, 0) ?? 0;
    expect(shared).toBeLessThan(alone * 0.6);
    // Every socket got the very same bytes.
    for (const o of outs) expect(Buffer.concat(o).equals(Buffer.concat(outs[0] as Buffer[]))).toBe(true);
    expect(await read(Buffer.concat(outs[7] as Buffer[]), docs.length)).toEqual(docs.map(String));
    expect(stats.compressionRestarts).toBe(1);
  });

  it('a late subscriber gets frames compressed alone until the stream restarts, at most once per RESET_MS, then joins', async () => {
    const stats = new NodeStats();
    const deflate = new DeflateFrames(stats, 0);
    let now = 0;
    const streams = new SharedStreams(stats, deflate, 4, () => now);
    const rnd = random(3);
    const early = [new StreamPosition(), new StreamPosition()];
    const late = new StreamPosition();
    const lateOut: Buffer[] = [];
    const lateDocs: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      now += 100;
      const doc = documentAt('a', i, rnd);
      for (const p of early) streams.frame(p, 'a', [doc], 0, 1);
      if (i >= 10) {
        lateOut.push(streams.frame(late, 'a', [doc], 0, 1));
        lateDocs.push(doc);
      }
    }
    // Restarts: the stream's start, then one for the late socket (10 publications at 100 ms: within one RESET_MS).
    expect(stats.compressionRestarts).toBe(2);
    expect(late.stream).toBe(early[0]?.stream);
    expect(await read(Buffer.concat(lateOut), lateDocs.length)).toEqual(lateDocs.map(String));
    expect(RESET_MS).toBeGreaterThan(0);
  });

  it('holds at most `max` streams; an idle one gives way to a new channel, a busy one does not', () => {
    const stats = new NodeStats();
    const deflate = new DeflateFrames(stats, 0);
    let now = 0;
    const streams = new SharedStreams(stats, deflate, 2, () => now);
    const rnd = random(4);
    /** Two sockets sent one publication: the second starts the key's stream when there is room; that socket's position. */
    const twice = (key: string) => {
      const doc = documentAt(key, 0, rnd);
      streams.frame(new StreamPosition(), key, [doc], 0, 1);
      const second = new StreamPosition();
      streams.frame(second, key, [doc], 0, 1);
      return second;
    };
    const heldByA = twice('a');
    twice('b');
    twice('c');
    expect([streams.has('a'), streams.has('b'), streams.has('c')]).toEqual([true, true, false]);
    const evicted = heldByA.stream as unknown as { ring: unknown[]; window: Buffer };
    expect(evicted.ring.some((m) => m !== undefined)).toBe(true);
    now += IDLE_MS + 1;
    twice('b');
    twice('c');
    expect([streams.has('a'), streams.has('b'), streams.has('c')]).toEqual([false, true, true]);
    // A socket still pointing at the evicted stream keeps nothing of it alive.
    expect(evicted.ring.every((m) => m === undefined)).toBe(true);
    expect(evicted.window.length).toBe(0);
  });

  it('a run longer than the 32 KB window is compressed alone, and takes its socket out of the stream', async () => {
    const stats = new NodeStats();
    const deflate = new DeflateFrames(stats, 0);
    const streams = new SharedStreams(stats, deflate, 4, () => 0);
    const rnd = random(5);
    const a = new StreamPosition();
    const b = new StreamPosition();
    const small = documentAt('a', 0, rnd);
    for (const p of [a, b]) streams.frame(p, 'a', [small], 0, 1);
    // a was sent it first (alone), b started the stream with it.
    expect(b.stream).not.toBeNull();
    const huge = Buffer.from(JSON.stringify({ push: 'pub', channel: 'a', data: 'y'.repeat(40_000) }));
    const frame = streams.frame(b, 'a', [huge], 0, 1);
    expect(frame.equals(deflate.frame(huge))).toBe(true);
    expect(b.stream).toBeNull();
    expect(await read(Buffer.concat([frame]), 1)).toEqual([huge.toString()]);
  });

  it('a socket many messages behind is sent its run alone, correctly, once the ring no longer holds it', async () => {
    const stats = new NodeStats();
    const deflate = new DeflateFrames(stats, 0);
    let now = 0;
    const streams = new SharedStreams(stats, deflate, 4, () => now);
    const rnd = random(6);
    const fast = [new StreamPosition(), new StreamPosition()];
    const slow = new StreamPosition();
    const docs = Array.from({ length: 30 }, (_, i) => documentAt('a', i, rnd));
    const slowOut: Buffer[] = [];
    // The slow socket takes the first five with the others, then falls 20 behind.
    for (const [i, doc] of docs.entries()) {
      now += 5;
      for (const p of fast) streams.frame(p, 'a', [doc], 0, 1);
      if (i < 5) slowOut.push(streams.frame(slow, 'a', [doc], 0, 1));
    }
    for (const doc of docs.slice(5)) slowOut.push(streams.frame(slow, 'a', [doc], 0, 1));
    expect(await read(Buffer.concat(slowOut), docs.length)).toEqual(docs.map(String));
  });
});
