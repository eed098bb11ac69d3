/**
 * Light document editors' wire: Yjs updates and y-websocket / Hocuspocus sync frames
 * encoded by hand (no Y.Doc per editor, so the load generator stays cheap), and the
 * markers that let a receiver find each update's send time in any message without decoding
 * it. Used by `switchboard bench documents` and by bench/documents.ts.
 */

/** Which wire a bench server speaks: y-websocket (name in the URL) or Hocuspocus (name in every message). */
export type Wire = 'y-websocket' | 'hocuspocus';

class Writer {
  readonly bytes: number[] = [];

  uint(n: number): this {
    let v = n;
    while (v > 0x7f) {
      this.bytes.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.bytes.push(v);
    return this;
  }

  byte(b: number): this {
    this.bytes.push(b);
    return this;
  }

  string(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.uint(b.length);
    for (const x of b) this.bytes.push(x);
    return this;
  }

  array(a: Uint8Array): this {
    this.uint(a.length);
    for (const x of a) this.bytes.push(x);
    return this;
  }

  done(): Buffer {
    return Buffer.from(this.bytes);
  }
}

/** The root text every editor appends to. */
export const TEXT = 't';

/**
 * One editor's own run of text in the shared `t`: each call encodes the next insert as a
 * Yjs v1 update (one ContentString item whose left origin is the editor's previous item).
 * ASCII only, so a string's length is its clock length.
 */
export class TextAppender {
  #clock = 0;

  constructor(readonly client: number) {}

  next(text: string): Buffer {
    const w = new Writer().uint(1).uint(1).uint(this.client).uint(this.#clock);
    if (this.#clock === 0) {
      // No origin: the parent is the root type named TEXT.
      w.byte(4).uint(1).string(TEXT);
    } else {
      w.byte(0x80 | 4)
        .uint(this.client)
        .uint(this.#clock - 1);
    }
    w.string(text).uint(0); // content, then an empty delete set
    this.#clock += text.length;
    return w.done();
  }
}

const SYNC = 0;
const STEP1 = 0;
const UPDATE = 2;
const AUTH = 2;

/** A sync-protocol update message; Hocuspocus prefixes every message with the document's name. */
export function updateFrame(wire: Wire, doc: string, update: Uint8Array): Buffer {
  const w = new Writer();
  if (wire === 'hocuspocus') w.string(doc);
  return w.uint(SYNC).uint(UPDATE).array(update).done();
}

/** Sync step 1 with an empty state vector: "send me everything". */
export function step1Frame(wire: Wire, doc: string): Buffer {
  const w = new Writer();
  if (wire === 'hocuspocus') w.string(doc);
  return w.uint(SYNC).uint(STEP1).array(Uint8Array.of(0)).done();
}

/** Hocuspocus's authentication message (token submessage), which must open every document. */
export function authFrame(doc: string, token: string): Buffer {
  return new Writer().string(doc).uint(AUTH).uint(0).string(token).done();
}

/**
 * Whether a message from the server is sync step 2 (the answer to step 1), after the
 * document name on Hocuspocus.
 */
export function isStep2(wire: Wire, msg: Buffer): boolean {
  let i = 0;
  if (wire === 'hocuspocus') {
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = msg[i++] as number;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    i += len;
  }
  return msg[i] === SYNC && msg[i + 1] === 1;
}

// ------------------------------------------------------------------ markers

/** `~u~` + editor (3 digits) + send time in µs on CLOCK_MONOTONIC (15 digits) + padding. */
const MAGIC = Buffer.from('~u~');
const EDITOR_DIGITS = 3;
const TIME_DIGITS = 15;

export function marker(editor: number, timeUs: number, pad = 8): string {
  return `~u~${String(editor).padStart(EDITOR_DIGITS, '0')}${String(Math.round(timeUs)).padStart(TIME_DIGITS, '0')}${'.'.repeat(pad)}`;
}

function digits(buf: Uint8Array, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = (buf[i] as number) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Call `fn(editor, timeUs)` for every marker in `buf` (a message, or a Yjs update). */
export function scanMarkers(buf: Buffer, fn: (editor: number, timeUs: number) => void): void {
  let i = buf.indexOf(MAGIC);
  while (i !== -1) {
    const at = i + MAGIC.length;
    const editor = digits(buf, at, EDITOR_DIGITS);
    const time = digits(buf, at + EDITOR_DIGITS, TIME_DIGITS);
    if (editor >= 0 && time >= 0) fn(editor, time);
    i = buf.indexOf(MAGIC, at);
  }
}

/** Every marker of a string (the text of a synced document), counted per editor. */
export function countMarkers(text: string): Map<number, number> {
  const counts = new Map<number, number>();
  scanMarkers(Buffer.from(text, 'utf8'), (editor) => counts.set(editor, (counts.get(editor) ?? 0) + 1));
  return counts;
}
