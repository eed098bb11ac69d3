import { Bucket } from './bucket.js';
import type { Clock } from './buckets.js';
import { ByteReader, ByteWriter, MetricDecodeError } from './bytes.js';
import { Sketch, type SketchOptions } from './sketch.js';

/**
 * The partial buckets other nodes announced (the Redis engine): per (tenant, series, label
 * set, step, bucket start), the latest whole bucket each other node holds. A node announces a
 * bucket whole every time it changes (never a delta), so the part it sent last replaces the one
 * before, and a lost message is healed by the next announcement of that bucket. Reads merge
 * this node's own bucket with every part (`merged`): counts, exact sums, min, max, `last` and
 * sketches merge exactly, in any order (bucket.ts).
 *
 * Memory: a part is a bucket like a local one (its binary form decoded: ~16 bytes a sketch bin
 * plus ~200 bytes), and parts leave with their resolution's retention (`sweep`), so a node
 * holds at most what each other node holds in memory for the series it ingests; a sender is
 * held to `maxStores` stores per tenant (the tenant's `maxSeries`), parts beyond are ignored.
 */

/** One store's changed buckets, as a sender lists them. */
export interface PartsOut {
  tenant: string;
  series: string;
  labels: Readonly<Record<string, string>>;
  steps: Array<{ step: number; retention: number; buckets: Bucket[] }>;
}

/** A store some other node announced parts of. */
interface Entry {
  readonly tenant: string;
  readonly series: string;
  readonly labels: Readonly<Record<string, string>>;
  /** step → retention (buckets) and start → node → part. */
  readonly steps: Map<number, { retention: number; starts: Map<number, Map<string, Bucket>> }>;
}

/** What one announcement changed: per store key, per step, the starts. */
export type PartsChanged = Map<string, Map<number, number[]>>;

const FORMAT = 1;
const MAX_STRING = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function writeString(w: ByteWriter, s: string): void {
  const bytes = encoder.encode(s);
  w.varint(bytes.length);
  w.bytes(bytes);
}

function readString(r: ByteReader): string {
  const n = r.varint();
  if (n > MAX_STRING) throw new MetricDecodeError('string too long');
  try {
    return decoder.decode(r.take(n));
  } catch {
    throw new MetricDecodeError('not UTF-8');
  }
}

/** The binary form of a node's changed buckets: one announcement. */
export function encodeParts(stores: readonly PartsOut[]): Uint8Array {
  const w = new ByteWriter();
  w.u8(FORMAT);
  w.varint(stores.length);
  for (const s of stores) {
    writeString(w, s.tenant);
    writeString(w, s.series);
    writeString(w, JSON.stringify(s.labels));
    w.varint(s.steps.length);
    for (const { step, retention, buckets } of s.steps) {
      w.varint(step);
      w.varint(retention);
      w.varint(buckets.length);
      for (const b of buckets) b.writeTo(w);
    }
  }
  return w.finish();
}

interface Decoded {
  tenant: string;
  series: string;
  labels: Record<string, string>;
  steps: Array<{ step: number; retention: number; buckets: Bucket[] }>;
}

function decodeParts(bytes: Uint8Array, sketch: Sketch): Decoded[] {
  const r = new ByteReader(bytes);
  if (r.u8() !== FORMAT) throw new MetricDecodeError('unknown format');
  const out: Decoded[] = [];
  const n = r.varint();
  for (let i = 0; i < n; i++) {
    const tenant = readString(r);
    const series = readString(r);
    let labels: unknown;
    try {
      labels = JSON.parse(readString(r));
    } catch {
      throw new MetricDecodeError('labels are not JSON');
    }
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string'))
      throw new MetricDecodeError('labels are not an object of strings');
    const steps: Decoded['steps'] = [];
    const m = r.varint();
    for (let j = 0; j < m; j++) {
      const step = r.varint();
      const retention = r.varint();
      if (step === 0 || retention === 0) throw new MetricDecodeError('an empty resolution');
      const buckets: Bucket[] = [];
      const k = r.varint();
      for (let x = 0; x < k; x++) {
        const b = Bucket.readFrom(r);
        if (b.start % step !== 0) throw new MetricDecodeError('a bucket start is not aligned to its step');
        if (b.count === 0) throw new MetricDecodeError('an empty bucket');
        if (b.lastTs >= b.start + step) throw new MetricDecodeError('a bucket holds a point outside it');
        if (b.sketch.relativeAccuracy !== sketch.relativeAccuracy || b.sketch.maxBins !== sketch.maxBins)
          throw new MetricDecodeError('other sketch parameters');
        buckets.push(b);
      }
      steps.push({ step, retention, buckets });
    }
    out.push({ tenant, series, labels: labels as Record<string, string>, steps });
  }
  r.end();
  return out;
}

export interface RemotePartsOptions {
  clock: Clock;
  /** The store key of a (tenant, series, label set): the one local stores use. */
  keyOf: (tenant: string, series: string, labels: Readonly<Record<string, string>>) => string;
  /** Stores one sender may hold parts of per tenant. */
  maxStores: () => number;
  /** How far ahead of the clock a bucket may start, ms. */
  maxSkew: number;
  sketch?: SketchOptions;
}

export class RemoteParts {
  readonly #o: RemotePartsOptions;
  readonly #probe: Sketch;
  readonly #entries = new Map<string, Entry>();
  /** `node\0tenant` → store keys that node has parts in. */
  readonly #bySender = new Map<string, Set<string>>();
  /** node → the writer its stored 1-minute rows carry in its current run (persist.ts), as it announced. */
  readonly #writers = new Map<string, string>();
  #parts = 0;

  constructor(options: RemotePartsOptions) {
    this.#o = options;
    this.#probe = new Sketch(options.sketch ?? {});
  }

  /** Stores with parts of another node. */
  get size(): number {
    return this.#entries.size;
  }

  /** Parts held (one per node and bucket). */
  get parts(): number {
    return this.#parts;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * Takes one announcement of node `from`: every part replaces that node's part of the same
   * bucket. All or nothing: malformed bytes refuse the whole announcement (a `MetricDecodeError`).
   * Parts outside their retention, and stores beyond the sender's cap, are ignored.
   */
  accept(from: string, bytes: Uint8Array, writer?: string): PartsChanged {
    const decoded = decodeParts(bytes, this.#probe);
    if (writer !== undefined) this.#writers.set(from, writer);
    const now = this.#o.clock.now();
    const changed: PartsChanged = new Map();
    for (const d of decoded) {
      const key = this.#o.keyOf(d.tenant, d.series, d.labels);
      const sender = `${from}\0${d.tenant}`;
      const mine = this.#bySender.get(sender) ?? new Set<string>();
      if (!mine.has(key) && mine.size >= this.#o.maxStores()) continue;
      let entry = this.#entries.get(key);
      for (const { step, retention, buckets } of d.steps) {
        const horizon = Math.floor(now / step) * step - (retention - 1) * step;
        const ahead = now + this.#o.maxSkew;
        const kept = buckets.filter((b) => b.start >= horizon && b.start <= ahead);
        if (kept.length === 0) continue;
        if (!entry) {
          entry = { tenant: d.tenant, series: d.series, labels: d.labels, steps: new Map() };
          this.#entries.set(key, entry);
        }
        mine.add(key);
        this.#bySender.set(sender, mine);
        const ring = entry.steps.get(step) ?? { retention, starts: new Map() };
        ring.retention = Math.max(ring.retention, retention);
        entry.steps.set(step, ring);
        const starts: number[] = [];
        for (const b of kept) {
          const byNode = ring.starts.get(b.start) ?? new Map<string, Bucket>();
          if (!byNode.has(from)) this.#parts++;
          byNode.set(from, b);
          ring.starts.set(b.start, byNode);
          starts.push(b.start);
        }
        const forKey = changed.get(key) ?? new Map<number, number[]>();
        forKey.set(step, starts);
        changed.set(key, forKey);
      }
    }
    return changed;
  }

  /** This node's bucket (read-only, copied before a merge) with every other node's part; undefined when all are empty. */
  merged(key: string, step: number, start: number, own: Bucket | undefined): Bucket | undefined {
    const parts = this.#entries.get(key)?.steps.get(step)?.starts.get(start);
    if (!parts || parts.size === 0) return own && own.count > 0 ? own : undefined;
    let out: Bucket | undefined = own && own.count > 0 ? own.clone() : undefined;
    for (const part of parts.values()) {
      if (out) out.merge(part);
      else out = part.clone();
    }
    return out;
  }

  /** Every other node's part of one bucket (node → part; read-only), if any. */
  partsOf(key: string, step: number, start: number): ReadonlyMap<string, Bucket> | undefined {
    return this.#entries.get(key)?.steps.get(step)?.starts.get(start);
  }

  /** The writer of a node's stored rows in its current run, when it said (its parts are that writer's minutes). */
  writerOf(node: string): string | undefined {
    return this.#writers.get(node);
  }

  /** The tenants with parts of exactly this store key's series and label set. */
  tenantsOf(series: string, labelSet: (labels: Readonly<Record<string, string>>) => boolean): string[] {
    const out: string[] = [];
    for (const e of this.#entries.values()) if (e.series === series && labelSet(e.labels)) out.push(e.tenant);
    return out;
  }

  /** The label sets of a tenant's series that other nodes announced parts of. */
  labelSetsOf(tenant: string, series: string): Array<Readonly<Record<string, string>>> {
    const out: Array<Readonly<Record<string, string>>> = [];
    for (const e of this.#entries.values()) if (e.tenant === tenant && e.series === series) out.push(e.labels);
    return out;
  }

  /** Drops the parts past their retention, and the stores left with none; returns the parts dropped. */
  sweep(): number {
    const now = this.#o.clock.now();
    let dropped = 0;
    for (const [key, entry] of this.#entries) {
      for (const [step, ring] of entry.steps) {
        const horizon = Math.floor(now / step) * step - (ring.retention - 1) * step;
        for (const [start, byNode] of ring.starts) {
          if (start >= horizon) continue;
          dropped += byNode.size;
          ring.starts.delete(start);
        }
        if (ring.starts.size === 0) entry.steps.delete(step);
      }
      if (entry.steps.size === 0) this.#forget(key, entry);
    }
    this.#parts -= dropped;
    return dropped;
  }

  /** Drops every part of a tenant's series (it was deleted). */
  dropSeries(tenant: string, series: string): void {
    for (const [key, entry] of this.#entries) {
      if (entry.tenant !== tenant || entry.series !== series) continue;
      for (const ring of entry.steps.values()) for (const byNode of ring.starts.values()) this.#parts -= byNode.size;
      this.#forget(key, entry);
    }
  }

  #forget(key: string, entry: Entry): void {
    this.#entries.delete(key);
    for (const [sender, keys] of this.#bySender) {
      if (!sender.endsWith(`\0${entry.tenant}`)) continue;
      keys.delete(key);
      if (keys.size === 0) this.#bySender.delete(sender);
    }
  }
}
