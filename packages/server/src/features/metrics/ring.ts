import { Bucket } from './bucket.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { SketchOptions } from './sketch.js';

/**
 * The buckets of one resolution: a ring of slots indexed by bucket number. Buckets that no longer
 * take points (but late ones) are packed into their binary form (held as a one-byte string: on the v8
 * heap, ~16 bytes of overhead against ~200 for a small Uint8Array), which is 4 to 8 times smaller
 * than a live bucket; reading one decodes a copy, merging into one unpacks it.
 */
export class Ring {
  /**
   * Starts of the buckets changed since they were last drained, in the order first changed;
   * a start repeats only when points alternate between buckets (drains sort and dedupe).
   */
  changed: number[] = [];
  readonly #slots: Array<Bucket | string | undefined>;
  /** The start of each slot's bucket (NaN when empty), so packed slots need no decoding to be found. */
  readonly #starts: Float64Array;

  constructor(
    readonly step: number,
    readonly retention: number,
    maxSkew: number,
    readonly sketch: SketchOptions,
  ) {
    // Room for every bucket from the retention's horizon to the clock plus the skew, so a slot's
    // occupant of another start is always past the horizon.
    const capacity = retention + Math.ceil(maxSkew / step) + 1;
    this.#slots = new Array(capacity).fill(undefined);
    this.#starts = new Float64Array(capacity).fill(Number.NaN);
  }

  /** The oldest bucket start kept at `now`: the current bucket and the retention − 1 before it. */
  horizon(now: number): number {
    return Math.floor(now / this.step) * this.step - (this.retention - 1) * this.step;
  }

  #slot(start: number): number {
    return (start / this.step) % this.#slots.length;
  }

  has(start: number): boolean {
    return this.#starts[this.#slot(start)] === start;
  }

  /** The bucket starting at `start`: the live one, or a decoded copy of a packed one. */
  get(start: number): Bucket | undefined {
    const i = this.#slot(start);
    if (this.#starts[i] !== start) return undefined;
    const held = this.#slots[i];
    return typeof held === 'string' ? unpack(held) : held;
  }

  /** The live bucket of `start`, unpacked or created (replacing a bucket past the horizon). */
  writable(start: number): Bucket {
    const i = this.#slot(start);
    const held = this.#slots[i];
    if (this.#starts[i] === start && held instanceof Bucket) return held;
    const b = this.#starts[i] === start && typeof held === 'string' ? unpack(held) : new Bucket(start, this.sketch);
    this.#slots[i] = b;
    this.#starts[i] = start;
    return b;
  }

  /** Notes the bucket of `start` as changed. */
  touch(start: number): void {
    const changed = this.changed;
    if (changed.length === 0 || changed[changed.length - 1] !== start) changed.push(start);
  }

  /** Drops the buckets that start before `horizon`; returns how many. */
  evict(horizon: number): number {
    let dropped = 0;
    for (let i = 0; i < this.#starts.length; i++) {
      const start = this.#starts[i] as number;
      if (!(start < horizon)) continue;
      this.#slots[i] = undefined;
      this.#starts[i] = Number.NaN;
      dropped++;
    }
    if (dropped > 0 && this.changed.length > 0) this.changed = this.changed.filter((s) => !(s < horizon));
    return dropped;
  }

  /** Packs the live buckets that end at or before `before`. */
  pack(before: number): void {
    for (let i = 0; i < this.#slots.length; i++) {
      const held = this.#slots[i];
      if (held instanceof Bucket && held.start + this.step <= before) this.#slots[i] = packed(held);
    }
  }

  /** Appends the binary form of the bucket of `start` (a packed one as it is); false when there is none. */
  writeTo(w: ByteWriter, start: number): boolean {
    const i = this.#slot(start);
    const held = this.#slots[i];
    if (this.#starts[i] !== start || held === undefined) return false;
    if (typeof held === 'string') w.bytes(Buffer.from(held, 'latin1'));
    else held.writeTo(w);
    return true;
  }

  get size(): number {
    let n = 0;
    for (const start of this.#starts) if (!Number.isNaN(start)) n++;
    return n;
  }
}

/** One writer for every packing (synchronous, so never shared by two at once): its room is grown once, not per bucket. */
const packer = new ByteWriter();

function packed(b: Bucket): string {
  b.writeTo(packer);
  return packer.takeLatin1();
}

function unpack(s: string): Bucket {
  return Bucket.readFrom(new ByteReader(Buffer.from(s, 'latin1')));
}
