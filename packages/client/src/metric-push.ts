import { ErrorCode } from '@switchboard/protocol';
import { ClientCode } from './codes.js';
import { SwitchboardError, toError } from './errors.js';
import type { FeatureHost } from './feature-module.js';
import { globalTimers, TimerSlot, type Timers } from './timers.js';

/** How `push` batches points; every field is optional. */
export interface MetricPushOptions {
  /** Send a batch this long after its first point, ms (default 50). */
  flushInterval?: number;
  /** Send a batch at once when it holds this many points (default 1,000; the server takes at most `metrics.maxPoints`, 10,000 by default). */
  maxBatchPoints?: number;
  /** Send a batch at once before it grows past this many bytes of JSON (default 32,768; the server closes a connection whose message exceeds `limits.maxMessageBytes`, 65,536 by default). */
  maxBatchBytes?: number;
  /** Points waiting for an answer at most, queued while offline and in flight together (default 10,000); beyond it `push` rejects at once with 23 OfflineQueueFull. */
  maxPending?: number;
  /** Timers, injectable for tests (default the global ones). */
  timers?: Timers;
}

/** The labels and timestamp of one point. */
export interface PointOptions {
  /** Label values by key: only keys the series declares (default none). */
  labels?: Readonly<Record<string, string>>;
  /** Integer ms since the epoch (default: the server's clock when the batch arrives). */
  ts?: number;
}

/** The points of one series and label set in a batch, as `metrics.push` carries them: a columnar block. */
interface Block {
  series: string;
  labels?: Readonly<Record<string, string>>;
  /** One per value when the points gave their `ts` (a block holds points with or points without). */
  ts?: number[];
  values: number[];
}

/** One `metrics.push` command in the making: its blocks, and the one promise its pushes share. */
interface Batch {
  /** By series, label set and whether the points carry `ts`, in the order first pushed. */
  blocks: Map<string, Block>;
  points: number;
  /** JSON bytes of the blocks (the envelope not counted). */
  bytes: number;
  settled: Promise<void>;
  resolve(): void;
  reject(error: SwitchboardError): void;
}

/** What the batcher needs from the client. */
export type MetricPushHost = Pick<FeatureHost, 'call' | 'on' | 'session'>;

const DEFAULTS = { flushInterval: 50, maxBatchPoints: 1000, maxBatchBytes: 32_768, maxPending: 10_000 };
/** `{"method":"metrics.push","id":…,"params":{"blocks":[` and its closing: room left in a batch's bytes. */
const ENVELOPE_BYTES = 96;
/** `{"series":`, `,"labels":`, `,"ts":[]` and `,"values":[]}` with the comma after a block. */
const SERIES_KEY_BYTES = 10;
const LABELS_KEY_BYTES = 10;
const TS_KEY_BYTES = 8;
const VALUES_KEY_BYTES = 14;

/** UTF-8 bytes of a string (a message's size as the server counts it). */
function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

/** Why a point cannot be sent at all, checked before it joins a batch (so it cannot refuse the others). */
function refusal(series: unknown, value: unknown, options: PointOptions): SwitchboardError | null {
  if (typeof series !== 'string' || series === '') return SwitchboardError.of(ErrorCode.BadRequest, 'series: expected a name');
  if (typeof value !== 'number' || !Number.isFinite(value)) return SwitchboardError.of(ErrorCode.InvalidMetricValue, `${String(value)} is not a finite number`);
  const { ts, labels } = options;
  if (ts !== undefined && !(Number.isSafeInteger(ts) && ts >= 0))
    return SwitchboardError.of(ErrorCode.InvalidTimestamp, `${String(ts)} is not an integer of ms from 0 to 2^53 - 1`);
  if (labels !== undefined) {
    if (labels === null || typeof labels !== 'object') return SwitchboardError.of(ErrorCode.BadRequest, 'labels: expected an object of strings');
    for (const [k, v] of Object.entries(labels)) if (typeof v !== 'string') return SwitchboardError.of(ErrorCode.BadRequest, `label ${k}: expected a string`);
  }
  return null;
}

/**
 * Points pushed one by one, sent as `metrics.push` batches of columnar blocks (one per series,
 * label set and whether the points carry `ts`, each block's points in the order pushed): after
 * `flushInterval` ms, or at once when a batch is full (points or bytes). The pushes of a batch
 * share one promise, settled with its answer. While the client is not connected, points wait
 * (at most `maxPending` with those in flight) and go out after the next `connected`.
 */
export class MetricBatcher {
  readonly #host: MetricPushHost;
  readonly #options: Required<Omit<MetricPushOptions, 'timers'>>;
  readonly #timer: TimerSlot;
  /** Batches not sent yet, oldest first; only the last one takes more points. */
  #queue: Batch[] = [];
  #queued = 0;
  #inFlight = 0;
  /** The block the previous push without labels went to, for the next one of its series (no key built). */
  #lastBare: { block: Block; batch: Batch; series: string; withTs: boolean } | null = null;

  constructor(host: MetricPushHost, options: MetricPushOptions = {}) {
    this.#host = host;
    const { timers, ...rest } = options;
    this.#options = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    this.#timer = new TimerSlot(timers ?? globalTimers);
    host.on('connected', () => this.#flushAll());
  }

  /** Points queued or in flight. */
  get pending(): number {
    return this.#queued + this.#inFlight;
  }

  push(series: string, value: number, options: PointOptions = {}): Promise<void> {
    const refused = refusal(series, value, options);
    if (refused) return Promise.reject(refused);
    if (this.pending >= this.#options.maxPending)
      return Promise.reject(SwitchboardError.of(ClientCode.OfflineQueueFull, `${this.pending} metric points wait for an answer`));
    const labels = options.labels !== undefined && Object.keys(options.labels).length > 0 ? options.labels : undefined;
    // A copy: the block keeps the label set as it was when pushed.
    const labelsJson = labels === undefined ? '' : JSON.stringify(labels);
    const ts = options.ts;
    const pointBytes = numberBytes(value) + 1 + (ts === undefined ? 0 : numberBytes(ts) + 1);
    const opening = (): number => blockBytes(series, labelsJson, ts !== undefined);
    let batch = this.#queue[this.#queue.length - 1];
    const last = this.#lastBare;
    const again = labels === undefined && last !== null && last.batch === batch && last.series === series && last.withTs === (ts !== undefined);
    let key: string | undefined;
    const keyOf = (): string => {
      key ??= `${ts === undefined ? '-' : '+'}${series}\u0000${labelsJson}`;
      return key;
    };
    let block = again ? last.block : batch?.blocks.get(keyOf());
    let bytes = block === undefined ? opening() + pointBytes : pointBytes;
    if (block === undefined && ENVELOPE_BYTES + bytes > this.#options.maxBatchBytes)
      return Promise.reject(SwitchboardError.of(ErrorCode.PayloadTooLarge, `a point of ${bytes} bytes`));
    if (batch === undefined || batch.points >= this.#options.maxBatchPoints || ENVELOPE_BYTES + batch.bytes + bytes > this.#options.maxBatchBytes) {
      // The last batch is full: a new one takes the point, and the full one goes now (if connected).
      if (block !== undefined) bytes += opening();
      batch = this.#open();
      block = undefined;
      this.#sendFull();
    }
    if (block === undefined) {
      block = { series, values: [] };
      if (labels !== undefined) block.labels = JSON.parse(labelsJson) as Record<string, string>;
      if (ts !== undefined) block.ts = [];
      batch.blocks.set(keyOf(), block);
    }
    if (labels === undefined) this.#lastBare = { block, batch, series, withTs: ts !== undefined };
    block.values.push(value);
    if (ts !== undefined) block.ts?.push(ts);
    batch.points++;
    batch.bytes += bytes;
    this.#queued++;
    if (batch.points >= this.#options.maxBatchPoints) this.#sendFull();
    else if (!this.#timer.armed && this.#host.session !== null) this.#timer.set(this.#options.flushInterval, () => this.#flushAll());
    return batch.settled;
  }

  /** Send what is queued now, if connected; resolves once those batches are answered (accepted or not). */
  async flush(): Promise<void> {
    await Promise.allSettled(this.#flushAll());
  }

  #open(): Batch {
    let resolve!: () => void;
    let reject!: (error: SwitchboardError) => void;
    const settled = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const batch: Batch = { blocks: new Map(), points: 0, bytes: 0, settled, resolve, reject };
    this.#queue.push(batch);
    return batch;
  }

  #flushAll(): Array<Promise<void>> {
    const sent: Array<Promise<void>> = [];
    while (this.#queue.length > 0 && this.#host.session !== null) sent.push(this.#send());
    return sent;
  }

  /** Send the full batches at the head of the queue, if connected (every batch but the last is full). */
  #sendFull(): void {
    while (this.#host.session !== null && this.#queue.length > 0) {
      const head = this.#queue[0] as Batch;
      if (this.#queue.length === 1 && head.points < this.#options.maxBatchPoints) return;
      void this.#send();
    }
  }

  /** Send the oldest batch, if connected; settle its pushes with the answer. */
  #send(): Promise<void> {
    const batch = this.#queue[0];
    if (this.#host.session === null || batch === undefined) return Promise.resolve();
    this.#queue.shift();
    this.#timer.clear();
    this.#queued -= batch.points;
    this.#inFlight += batch.points;
    if (this.#queue.length > 0) this.#timer.set(this.#options.flushInterval, () => this.#flushAll());
    return this.#host.call<{ accepted: number }>('metrics.push', { blocks: [...batch.blocks.values()] }).then(
      () => {
        this.#inFlight -= batch.points;
        batch.resolve();
      },
      (err: unknown) => {
        this.#inFlight -= batch.points;
        batch.reject(toError(err, ClientCode.ConnectionClosed));
      },
    );
  }
}

/** The bytes of a number in JSON: counted for integers (no string made), else its text's length. */
function numberBytes(v: number): number {
  if (!Number.isInteger(v) || v <= -1e15 || v >= 1e15) return String(v).length;
  const a = Math.abs(v);
  let n = v < 0 ? 2 : 1;
  for (let t = 10; a >= t; t *= 10) n++;
  return n;
}

/** The bytes a new block takes before its first point. */
function blockBytes(series: string, labelsJson: string, withTs: boolean): number {
  return (
    SERIES_KEY_BYTES +
    utf8Length(JSON.stringify(series)) +
    (labelsJson === '' ? 0 : LABELS_KEY_BYTES + utf8Length(labelsJson)) +
    (withTs ? TS_KEY_BYTES : 0) +
    VALUES_KEY_BYTES
  );
}
