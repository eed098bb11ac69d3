import type { PubPush } from '@switchboard/protocol';

/**
 * Delta delivery, the client side: on a subscription whose reply said `delta: true`, every
 * live `pub` push carries `data` as a JSON string — the payload's JSON text, or (with
 * `delta: true`) a fossil delta from the previous publication's text, one character
 * (U+0000–U+00FF) per delta byte. The decoder keeps the last text and gives the app values.
 */
export class DeltaDecoder {
  #prev: Uint8Array | null = null;

  /** The publication's value, or undefined when it cannot be rebuilt (no base, a wrong base, a bad frame). */
  decode(push: PubPush): unknown {
    try {
      if (typeof push.data !== 'string') return undefined;
      let bytes: Uint8Array;
      if (push.delta === true) {
        if (this.#prev === null) return undefined;
        bytes = applyFossilDelta(this.#prev, latin1Bytes(push.data));
      } else {
        bytes = new TextEncoder().encode(push.data);
      }
      const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      this.#prev = bytes;
      return value;
    } catch {
      this.#prev = null;
      return undefined;
    }
  }
}

function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError('not a byte string');
    out[i] = c;
  }
  return out;
}

/** Digit values of fossil's base-64 integers: 0-9, A-Z, _, a-z, ~. */
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';
const DIGIT_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < DIGITS.length; i++) DIGIT_VALUE[DIGITS.charCodeAt(i)] = i;

/** Reads a delta: integers, then one operator character. */
class DeltaReader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  int(): number {
    let v = 0;
    for (;;) {
      const b = this.bytes[this.pos];
      const d = b === undefined || b > 127 ? -1 : (DIGIT_VALUE[b] as number);
      if (d < 0) return v;
      v = v * 64 + d;
      this.pos++;
    }
  }

  op(): string {
    const b = this.bytes[this.pos++];
    if (b === undefined) throw new RangeError('delta ends early');
    return String.fromCharCode(b);
  }
}

/** Fossil's 32-bit checksum: the sum of the big-endian 32-bit words, the last one zero-padded. */
function checksum(a: Uint8Array): number {
  let sum = 0;
  const whole = a.length - (a.length % 4);
  for (let i = 0; i < whole; i += 4)
    sum = (sum + (((a[i] as number) << 24) | ((a[i + 1] as number) << 16) | ((a[i + 2] as number) << 8) | (a[i + 3] as number))) | 0;
  let tail = 0;
  for (let i = whole, shift = 24; i < a.length; i++, shift -= 8) tail |= (a[i] as number) << shift;
  return ((sum + tail) | 0) >>> 0;
}

/**
 * Apply a fossil delta (the format of the Fossil SCM, as fossil-delta writes it) to `base`:
 * `size\n`, then `count@offset,` (copy from base) and `count:bytes` (insert) commands, and
 * `checksum;` at the end. Throws on anything malformed or a checksum that does not match.
 */
export function applyFossilDelta(base: Uint8Array, delta: Uint8Array): Uint8Array {
  const r = new DeltaReader(delta);
  const size = r.int();
  if (r.op() !== '\n') throw new RangeError('bad delta header');
  const out = new Uint8Array(size);
  let n = 0;
  for (;;) {
    const count = r.int();
    const op = r.op();
    if (op === '@') {
      const offset = r.int();
      if (r.op() !== ',' || offset + count > base.length || n + count > size) throw new RangeError('bad copy');
      out.set(base.subarray(offset, offset + count), n);
      n += count;
    } else if (op === ':') {
      if (r.pos + count > delta.length || n + count > size) throw new RangeError('bad insert');
      out.set(delta.subarray(r.pos, r.pos + count), n);
      r.pos += count;
      n += count;
    } else if (op === ';') {
      if (n !== size || count !== checksum(out)) throw new RangeError('bad checksum');
      return out;
    } else {
      throw new RangeError('unknown delta operator');
    }
  }
}
