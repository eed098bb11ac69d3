import { constants, deflateRawSync } from 'node:zlib';
import type { NodeStats } from '../observability/stats.js';
import type { DeflateFrames } from './ws-deflate.js';
import { headerLength, writeHeader } from './ws-frames.js';

/**
 * Shared compression streams: permessage-deflate with context takeover, compressed once for
 * every socket.
 *
 * A socket that negotiated context takeover keeps its LZ77 window between messages: the last
 * 32 KB it inflated. A publication compressed against the previous ones of its channel is far
 * smaller than one compressed alone (a slowly changing document becomes mostly
 * back-references), but it is only valid for a socket whose window ends with exactly those
 * previous publications. So each channel (each stream key: a channel's frames of one kind)
 * gets one shared stream: its messages are runs of the channel's frames, each compressed once,
 * against the stream's last 32 KB (zlib's preset dictionary), and a socket takes a message's
 * bytes only when it is *in step*: the last compressed message it received was the stream's
 * previous one. RFC 7692 passes only compressed messages through the inflater, so uncompressed
 * messages in between change nothing.
 *
 * A socket out of step (a new subscriber, one that skipped a publication through a filter or
 * conflation, one that received another channel's compressed message) is sent the run
 * compressed alone, as without context takeover, and asks the stream to restart: its next
 * message is compressed alone too (no back-reference: valid for any window), and every socket
 * that receives it is in step from there. Restarts come at most once per RESET_MS per stream,
 * so churn costs a bounded share of the compression. A socket is never behind by accident:
 * being in step is checked on every message, and being out of step only costs bytes.
 *
 * Memory: a stream holds its last 32 KB of payloads and its last RING messages, at most
 * RING_BYTES of them (frames and payloads; a run longer than the window is always compressed
 * alone, since a window cannot reach back past it); no zlib state
 * is kept between messages. At most `max` streams exist; one idle for IDLE_MS gives way to a
 * new one. Compressions per publication stay one (sometimes two: once in its stream, once alone
 * for sockets out of step), however many sockets receive it.
 */

/** Messages of a stream a socket a few behind (its flush came later in the turn) can still take. */
const RING = 8;
/** The most bytes (payloads and frames) a stream's recent messages hold; the newest one is always kept. */
const RING_BYTES = 128 * 1024;
/** A stream restarts for sockets out of step at most this often, ms. */
export const RESET_MS = 1000;
/** The longest a socket that keeps falling out of step waits between two requests for a restart, ms. */
const MAX_ASK_MS = 60_000;
/** Messages taken in step in a row after which a socket's wait between requests is back to RESET_MS. */
const STREAK = 16;
/** The decoders' LZ77 window (server_max_window_bits 15): what a message may refer back to. */
const WINDOW = 32 * 1024;
/** A stream not used for this long gives way to a new one when the node holds its maximum, ms. */
export const IDLE_MS = 10_000;
/** How often a full set of streams is searched for an idle one, ms. */
const EVICT_SCAN_MS = 1000;
const NEWLINE = Buffer.from('\n');
const FIN_RSV1_TEXT = 0xc1;
/** §7.2.1: the tail of a sync flush, removed from the end of every compressed message. */
const TAIL = 4;

interface Message {
  readonly seq: number;
  /** The frames it carries, joined by newlines. */
  readonly payloads: readonly Buffer[];
  readonly frame: Buffer;
  /** Compressed alone: valid whatever the socket's window holds. */
  readonly reset: boolean;
  /** The payloads' bytes. */
  readonly bytes: number;
}

/** Where one socket's inflater stands: what the window it decodes with ends with. */
export class StreamPosition {
  stream: SharedStream | null = null;
  /** The stream message it received last (meaningful with `stream`). */
  seq = 0;
  /** The frames of its last compressed message when that message was compressed alone. */
  alone: Buffer[] | null = null;
  /** When it may next ask a stream to restart, and the wait after that (doubling while it keeps falling out of step). */
  askAt = 0;
  backoff = RESET_MS;
  /** Stream messages taken in step in a row: a long run resets the wait. */
  streak = 0;

  /** The socket received a compressed message outside every stream. */
  clear(): void {
    this.stream = null;
    this.alone = null;
  }
}

class SharedStream {
  /** The newest message's number (0: none yet). */
  seq = 0;
  readonly ring: Array<Message | undefined> = new Array(RING);
  /** The last WINDOW bytes the stream's decoders inflated since its last restart. */
  window: Buffer = Buffer.alloc(0);
  lastReset = Number.NEGATIVE_INFINITY;
  /** When its last message was made. */
  lastMade = Number.NEGATIVE_INFINITY;
  /** A socket out of step is waiting for a restart. */
  wantReset = false;
  lastUsed: number;

  constructor(now: number) {
    this.lastUsed = now;
  }

  at(seq: number): Message | undefined {
    const m = this.ring[seq % RING];
    return m?.seq === seq ? m : undefined;
  }

  /** The message made from frames[start, start + n) for some n, end - start at most, if it is still in the ring. */
  find(frames: readonly Buffer[], start: number, end: number): Message | undefined {
    const first = frames[start];
    for (const m of this.ring) {
      if (m !== undefined && m.payloads[0] === first && m.payloads.length <= end - start && sameRun(m.payloads, frames, start, start + m.payloads.length))
        return m;
    }
    return undefined;
  }

  /** Evicted: drop what it holds (sockets still pointing at it only hold an empty shell, and are out of step). */
  release(): void {
    this.ring.fill(undefined);
    this.window = Buffer.alloc(0);
  }

  add(m: Message): void {
    this.seq = m.seq;
    this.ring[m.seq % RING] = m;
    // Oldest first, drop what is over the byte budget (the newest stays).
    let bytes = 0;
    for (let seq = m.seq; seq > m.seq - RING; seq--) {
      const held = this.at(seq);
      if (held === undefined) break;
      bytes += held.frame.length + held.bytes;
      if (bytes > RING_BYTES && seq !== m.seq) this.ring[seq % RING] = undefined;
    }
  }
}

function sameRun(payloads: readonly Buffer[], frames: readonly Buffer[], start: number, end: number): boolean {
  if (payloads.length !== end - start) return false;
  for (let i = 0; i < payloads.length; i++) if (payloads[i] !== frames[start + i]) return false;
  return true;
}

function runBytes(run: readonly Buffer[]): number {
  let bytes = run.length - 1;
  for (const f of run) bytes += f.length;
  return bytes;
}

/** frames[start, end) joined by newlines, as the decoder inflates them. */
function joinedText(frames: readonly Buffer[], start: number, end: number): Buffer {
  if (end - start === 1) return frames[start] as Buffer;
  const parts: Buffer[] = [];
  for (let i = start; i < end; i++) {
    if (i > start) parts.push(NEWLINE);
    parts.push(frames[i] as Buffer);
  }
  return Buffer.concat(parts);
}

export class SharedStreams {
  readonly #streams = new Map<string, SharedStream>();
  /** First frames of runs sent alone while their key had no stream: a second socket sending the same run starts one. */
  readonly #seen = new WeakSet<Buffer>();
  /** Frames a stream message carried: a late socket's run is not made again. */
  readonly #made = new WeakSet<Buffer>();
  #nextEvictScan = 0;

  constructor(
    private readonly stats: NodeStats,
    private readonly deflate: DeflateFrames,
    /** The most streams at once. */
    readonly max: number,
    /** A monotonic clock, ms (a wall clock stepping back would hold restarts off). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Streams alive now. */
  get size(): number {
    return this.#streams.size;
  }

  has(key: string): boolean {
    return this.#streams.has(key);
  }

  /**
   * The compressed frame carrying frames[start, end) (consecutive frames of stream `key`, at
   * least the threshold joined) to the socket at `pos`, which moves past it.
   */
  frame(pos: StreamPosition, key: string, frames: readonly Buffer[], start: number, end: number): Buffer {
    const now = this.now();
    const first = frames[start] as Buffer;
    if (end - start === 1 ? first.length > WINDOW : runBytes(frames.slice(start, end)) > WINDOW) {
      // Never a stream message, so never a restart to match: the socket keeps no reference to it.
      pos.clear();
      pos.streak = 0;
      return this.#standalone(frames.slice(start, end));
    }
    const stream = this.#streams.get(key);
    if (stream === undefined) {
      if (!this.#seen.has(first) || !this.#room(now)) {
        this.#seen.add(first);
        return this.#alone(pos, frames, start, end);
      }
      const created = new SharedStream(now);
      this.#streams.set(key, created);
      return this.#restart(created, pos, frames, start, end, now);
    }
    stream.lastUsed = now;
    // The messages already made that cover the run's start (a socket whose flush came later
    // may hold two of them in one run): taken one after another while in step.
    let at = start;
    let taken: Buffer[] | null = null;
    for (let m = stream.find(frames, at, end); m !== undefined && (m.reset || this.#inStep(pos, stream, m.seq - 1)); m = stream.find(frames, at, end)) {
      const frame = this.#took(pos, stream, m);
      at += m.payloads.length;
      if (at === end) return taken === null ? frame : Buffer.concat([...taken, frame]);
      if (taken === null) taken = [frame];
      else taken.push(frame);
    }
    const rest = this.#next(stream, pos, frames, at, end, now);
    return taken === null ? rest : Buffer.concat([...taken, rest]);
  }

  /**
   * The frame for frames[start, end) when no message made so far covers its start for this
   * socket. A new run is the stream's next message when the socket is in step at its head (a
   * restart instead when a socket waits for one); a socket out of step restarts the stream
   * only when no socket in step has made a message for RESET_MS (a stalled stream), so a
   * socket whose runs differ (a filter) never takes the stream from the sockets in step.
   */
  #next(stream: SharedStream, pos: StreamPosition, frames: readonly Buffer[], start: number, end: number, now: number): Buffer {
    if (!this.#made.has(frames[start] as Buffer)) {
      const mayReset = now - stream.lastReset >= RESET_MS;
      if (this.#inStep(pos, stream, stream.seq)) {
        return stream.wantReset && mayReset ? this.#restart(stream, pos, frames, start, end, now) : this.#continue(stream, pos, frames, start, end);
      }
      if (mayReset && now - stream.lastMade >= RESET_MS) return this.#restart(stream, pos, frames, start, end, now);
    }
    this.#ask(stream, pos, now);
    return this.#alone(pos, frames, start, end);
  }

  /** A socket out of step asks for a restart: at once the first time, then less and less often while it keeps falling out. */
  #ask(stream: SharedStream, pos: StreamPosition, now: number): void {
    if (now < pos.askAt) return;
    stream.wantReset = true;
    pos.askAt = now + pos.backoff;
    pos.backoff = Math.min(pos.backoff * 2, MAX_ASK_MS);
  }

  #inStep(pos: StreamPosition, stream: SharedStream, seq: number): boolean {
    if (pos.stream === stream) return pos.seq === seq;
    const alone = pos.alone;
    if (alone === null) return false;
    const m = stream.at(seq);
    return m?.reset === true && sameRun(m.payloads, alone, 0, alone.length);
  }

  #took(pos: StreamPosition, stream: SharedStream, m: Message): Buffer {
    this.stats.compressedMessages++;
    this.stats.sharedCompressedMessages++;
    this.#stepped(pos, m);
    pos.stream = stream;
    pos.seq = m.seq;
    pos.alone = null;
    return m.frame;
  }

  /** The run compressed alone (each frame's segment made once for every socket); the socket is out of every stream. */
  #alone(pos: StreamPosition, frames: readonly Buffer[], start: number, end: number): Buffer {
    const run = frames.slice(start, end);
    pos.streak = 0;
    pos.stream = null;
    pos.alone = run;
    return this.#standalone(run);
  }

  #standalone(run: Buffer[]): Buffer {
    return run.length === 1 ? this.deflate.frame(run[0] as Buffer) : this.deflate.joined(run, run.length);
  }

  /** A message compressed alone that starts the stream again; its frame is the one sockets out of step get. */
  #restart(stream: SharedStream, pos: StreamPosition, frames: readonly Buffer[], start: number, end: number, now: number): Buffer {
    const run = frames.slice(start, end);
    const frame = this.#standalone(run);
    this.stats.sharedCompressedMessages++;
    this.stats.compressionRestarts++;
    stream.lastReset = now;
    stream.wantReset = false;
    stream.window = tail(joinedText(run, 0, run.length));
    return this.#added(stream, pos, { seq: stream.seq + 1, payloads: run, frame, reset: true, bytes: runBytes(run) });
  }

  /** The next message of the stream, compressed against its window. */
  #continue(stream: SharedStream, pos: StreamPosition, frames: readonly Buffer[], start: number, end: number): Buffer {
    const text = joinedText(frames, start, end);
    const segment = deflateRawSync(text, { finishFlush: constants.Z_SYNC_FLUSH, dictionary: stream.window });
    const stats = this.stats;
    stats.compressions++;
    stats.compressionBytesIn += text.length;
    stats.compressionBytesOut += segment.length;
    stats.compressedMessages++;
    stats.sharedCompressedMessages++;
    const length = segment.length - TAIL;
    const frame = Buffer.allocUnsafe(headerLength(length) + length);
    segment.copy(frame, writeHeader(frame, length, FIN_RSV1_TEXT), 0, length);
    stream.window = tail(Buffer.concat([stream.window, text]));
    return this.#added(stream, pos, { seq: stream.seq + 1, payloads: frames.slice(start, end), frame, reset: false, bytes: text.length });
  }

  /** Taken in step (not as a restart) STREAK times in a row: the socket asks at once again next time it falls out. */
  #stepped(pos: StreamPosition, m: Message): void {
    if (m.reset) return;
    if (++pos.streak >= STREAK) {
      pos.streak = 0;
      pos.backoff = RESET_MS;
    }
  }

  #added(stream: SharedStream, pos: StreamPosition, m: Message): Buffer {
    stream.add(m);
    stream.lastMade = this.now();
    this.#stepped(pos, m);
    for (const p of m.payloads) this.#made.add(p);
    pos.stream = stream;
    pos.seq = m.seq;
    pos.alone = null;
    return m.frame;
  }

  /** Whether a new stream may start: below the maximum, or one idle long enough gives way. */
  #room(now: number): boolean {
    if (this.#streams.size < this.max) return true;
    if (this.max === 0 || now < this.#nextEvictScan) return false;
    this.#nextEvictScan = now + EVICT_SCAN_MS;
    let oldest: string | undefined;
    let oldestUse = now - IDLE_MS;
    for (const [key, s] of this.#streams) {
      if (s.lastUsed <= oldestUse) {
        oldest = key;
        oldestUse = s.lastUsed;
      }
    }
    if (oldest === undefined) return false;
    this.#streams.get(oldest)?.release();
    this.#streams.delete(oldest);
    return true;
  }
}

/** The last WINDOW bytes of `bytes` (a copy when cut, so a large message is not kept whole). */
function tail(bytes: Buffer): Buffer {
  return bytes.length <= WINDOW ? bytes : Buffer.from(bytes.subarray(bytes.length - WINDOW));
}
