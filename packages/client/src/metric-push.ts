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

/** One point as `metrics.push` carries it. */
interface PointRow {
  series: string;
  labels?: Readonly<Record<string, string>>;
  ts?: number;
  value: number;
}

interface Waiting {
  row: PointRow;
  bytes: number;
  resolve(): void;
  reject(error: SwitchboardError): void;
}

/** What the batcher needs from the client. */
export type MetricPushHost = Pick<FeatureHost, 'call' | 'on' | 'session'>;

const DEFAULTS = { flushInterval: 50, maxBatchPoints: 1000, maxBatchBytes: 32_768, maxPending: 10_000 };
/** `{"method":"metrics.push","id":…,"params":{"points":[` and its closing: room left in a batch's bytes. */
const ENVELOPE_BYTES = 96;

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
 * Points pushed one by one, sent as `metrics.push` batches: after `flushInterval` ms, or at
 * once when a batch is full (points or bytes). Each push settles with its batch's answer.
 * While the client is not connected, points wait (at most `maxPending` with those in flight)
 * and go out after the next `connected`.
 */
export class MetricBatcher {
  readonly #host: MetricPushHost;
  readonly #options: Required<Omit<MetricPushOptions, 'timers'>>;
  readonly #timer: TimerSlot;
  #queue: Waiting[] = [];
  #queuedBytes = ENVELOPE_BYTES;
  #inFlight = 0;

  constructor(host: MetricPushHost, options: MetricPushOptions = {}) {
    this.#host = host;
    const { timers, ...rest } = options;
    this.#options = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    this.#timer = new TimerSlot(timers ?? globalTimers);
    host.on('connected', () => this.#flushAll());
  }

  /** Points queued or in flight. */
  get pending(): number {
    return this.#queue.length + this.#inFlight;
  }

  push(series: string, value: number, options: PointOptions = {}): Promise<void> {
    const refused = refusal(series, value, options);
    if (refused) return Promise.reject(refused);
    if (this.pending >= this.#options.maxPending)
      return Promise.reject(SwitchboardError.of(ClientCode.OfflineQueueFull, `${this.pending} metric points wait for an answer`));
    const row: PointRow = { series, value };
    if (options.labels !== undefined && Object.keys(options.labels).length > 0) row.labels = options.labels;
    if (options.ts !== undefined) row.ts = options.ts;
    const bytes = utf8Length(JSON.stringify(row)) + 1;
    if (bytes + ENVELOPE_BYTES > this.#options.maxBatchBytes)
      return Promise.reject(SwitchboardError.of(ErrorCode.PayloadTooLarge, `a point of ${bytes} bytes`));
    return new Promise<void>((resolve, reject) => {
      if (this.#queuedBytes + bytes > this.#options.maxBatchBytes) this.#send();
      this.#queue.push({ row, bytes, resolve, reject });
      this.#queuedBytes += bytes;
      if (this.#queue.length >= this.#options.maxBatchPoints) this.#send();
      else if (!this.#timer.armed && this.#host.session !== null) this.#timer.set(this.#options.flushInterval, () => this.#flushAll());
    });
  }

  /** Send what is queued now, if connected; resolves once those batches are answered (accepted or not). */
  async flush(): Promise<void> {
    await Promise.allSettled(this.#flushAll());
  }

  #flushAll(): Array<Promise<void>> {
    const sent: Array<Promise<void>> = [];
    while (this.#queue.length > 0 && this.#host.session !== null) sent.push(this.#send());
    return sent;
  }

  /** Send the head of the queue as one batch (within both caps); settle its pushes with the answer. */
  #send(): Promise<void> {
    if (this.#host.session === null || this.#queue.length === 0) return Promise.resolve();
    this.#timer.clear();
    let n = 0;
    let bytes = ENVELOPE_BYTES;
    while (n < this.#queue.length && n < this.#options.maxBatchPoints && bytes + (this.#queue[n] as Waiting).bytes <= this.#options.maxBatchBytes) {
      bytes += (this.#queue[n] as Waiting).bytes;
      n++;
    }
    const batch = this.#queue.splice(0, Math.max(1, n));
    this.#queuedBytes -= bytes - ENVELOPE_BYTES;
    this.#inFlight += batch.length;
    if (this.#queue.length > 0) this.#timer.set(this.#options.flushInterval, () => this.#flushAll());
    return this.#host.call<{ accepted: number }>('metrics.push', { points: batch.map((w) => w.row) }).then(
      () => {
        this.#inFlight -= batch.length;
        for (const w of batch) w.resolve();
      },
      (err: unknown) => {
        this.#inFlight -= batch.length;
        const error = toError(err, ClientCode.ConnectionClosed);
        for (const w of batch) w.reject(error);
      },
    );
  }
}
