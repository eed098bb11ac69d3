/**
 * The byte layer of the metric codecs: unsigned and zigzag varints (exact up to 2^53, so counts
 * and timestamps never need a float) and little-endian float64s. A reader never reads past its
 * end: every malformed input ends in a `MetricDecodeError`, never an exception of another type.
 */

/** Bytes that are not a valid encoding: truncated, out of range, inconsistent or trailing. */
export class MetricDecodeError extends Error {
  override readonly name = 'MetricDecodeError';
}

export class ByteWriter {
  #bytes = new Uint8Array(64);
  #view = new DataView(this.#bytes.buffer);
  #length = 0;

  #reserve(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    const next = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + n));
    next.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = value;
  }

  /** A non-negative safe integer, 7 bits a byte. */
  varint(value: number): void {
    this.#reserve(8);
    let v = value;
    while (v >= 0x80) {
      this.#bytes[this.#length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#bytes[this.#length++] = v;
  }

  /** A safe integer of either sign (zigzag: 0, -1, 1, -2 … become 0, 1, 2, 3 …). */
  zigzag(value: number): void {
    this.varint(value < 0 ? -2 * value - 1 : 2 * value);
  }

  f64(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value, true);
    this.#length += 8;
  }

  bytes(value: Uint8Array): void {
    this.#reserve(value.length);
    this.#bytes.set(value, this.#length);
    this.#length += value.length;
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }

  /** The bytes written as a one-byte string (latin1), then empty again for the next use. */
  takeLatin1(): string {
    const out = Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset, this.#length).toString('latin1');
    this.#length = 0;
    return out;
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new MetricDecodeError('not a byte array');
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.#offset === this.#bytes.length;
  }

  #need(n: number): void {
    if (this.#offset + n > this.#bytes.length) throw new MetricDecodeError('truncated');
  }

  u8(): number {
    this.#need(1);
    return this.#bytes[this.#offset++] as number;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value) || (i > 0 && byte === 0)) throw new MetricDecodeError('varint out of range');
        return value;
      }
      scale *= 0x80;
    }
    throw new MetricDecodeError('varint too long');
  }

  zigzag(): number {
    const v = this.varint();
    return v % 2 === 1 ? -(v + 1) / 2 : v / 2;
  }

  f64(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.#offset, true);
    this.#offset += 8;
    return v;
  }

  /** A finite float64. */
  finite(): number {
    const v = this.f64();
    if (!Number.isFinite(v)) throw new MetricDecodeError('not a finite number');
    return v;
  }

  /** The next `n` bytes, as a view. */
  take(n: number): Uint8Array {
    this.#need(n);
    const out = this.#bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  end(): void {
    if (!this.done) throw new MetricDecodeError('trailing bytes');
  }
}
