import { randomBytes } from 'node:crypto';
import {
  type Broker,
  type BrokerHandler,
  type ChannelEvent,
  type HistoryPage,
  type HistoryQuery,
  type PublishOptions,
  type PublishOutcome,
  RateLimited,
  type StreamPublication,
} from './broker.js';

/** Rate buckets a publish may take from (the engine's limit store). */
export interface RateBuckets {
  takeNow(key: string, ratePerSecond: number, burst: number): number;
}

/** How long an idle stream keeps its epoch and offset, so clients can still resume on it. */
const STREAM_META_TTL = 24 * 3_600_000;
/** Streams that never had a publication (created by a read) are forgotten sooner. */
const EMPTY_STREAM_TTL = 5 * 60_000;
/**
 * Stream epochs: a random prefix per process and a counter, so a stream made again (after a
 * restart, or after it was forgotten) never has the epoch a client saw before, without a
 * call into the CSPRNG for every new channel.
 */
const EPOCH_PREFIX = randomBytes(6).toString('base64url');
let epochCounter = 0;

interface Stream {
  epoch: string;
  offset: number;
  items: StreamPublication[];
  /** Expiry time of each item, parallel to `items`. */
  expires: number[];
  touched: number;
  idempotency: Map<string, { outcome: PublishOutcome; expires: number }>;
}

/** One-process broker: history in per-channel arrays, fan-out by direct call. */
export class MemoryBroker implements Broker {
  #handler: BrokerHandler | null = null;
  readonly #streams = new Map<string, Stream>();
  /** Channels with local subscribers: their streams are kept, so their epochs stay stable. */
  readonly #interest = new Set<string>();
  /** Streams that never had a publication, oldest first: capped, so reads cannot fill memory. */
  readonly #empty = new Set<string>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEmptyStreams = 100_000,
    private readonly buckets: RateBuckets | null = null,
  ) {
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
  }

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    this.#interest.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#interest.delete(channel);
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<PublishOutcome> {
    const now = this.now();
    const stream = this.#stream(channel, now);
    const key = options.idempotencyKey;
    if (key !== undefined) {
      const seen = stream.idempotency.get(key);
      if (seen && seen.expires > now) return { ...seen.outcome, deduplicated: true };
    }
    const limit = options.rateLimit;
    const wait = limit && this.buckets ? this.buckets.takeNow(limit.bucket, limit.ratePerSecond, limit.burst) : 0;
    if (wait > 0) throw new RateLimited((limit as { bucket: string }).bucket, wait);
    if (stream.offset === 0) this.#empty.delete(channel);
    stream.offset += 1;
    const pub: StreamPublication = { offset: stream.offset, time: now, data };
    if (options.info) pub.info = options.info;
    if (options.tags) pub.tags = options.tags;
    if (options.priority) pub.priority = options.priority;
    if (options.historySize > 0) {
      stream.items.push(pub);
      stream.expires.push(now + options.historyTtl);
      const excess = stream.items.length - options.historySize;
      if (excess > 0) {
        stream.items.splice(0, excess);
        stream.expires.splice(0, excess);
      }
    }
    const outcome: PublishOutcome = { offset: stream.offset, epoch: stream.epoch, deduplicated: false };
    if (key !== undefined) stream.idempotency.set(key, { outcome, expires: now + options.idempotencyTtl });
    this.#handler?.onPublication(channel, pub, stream.epoch);
    return outcome;
  }

  async publishEvent(channel: string, event: ChannelEvent): Promise<void> {
    this.#handler?.onEvent(channel, event);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const now = this.now();
    const stream = this.#stream(channel, now);
    this.#expireItems(stream, now);
    let items = stream.items;
    if (query.since && query.since.epoch === stream.epoch) {
      const after = query.since.offset;
      items = items.filter((p) => p.offset > after);
    }
    const page = query.limit <= 0 ? [] : query.reverse ? items.slice(-query.limit).reverse() : items.slice(0, query.limit);
    const first = stream.items.length > 0 ? (stream.items[0] as StreamPublication).offset : stream.offset + 1;
    return { publications: page, epoch: stream.epoch, offset: stream.offset, firstOffset: first };
  }

  async removeHistory(channel: string): Promise<void> {
    const had = this.#streams.delete(channel);
    this.#empty.delete(channel);
    if (had && this.#interest.has(channel)) this.#handler?.onStreamLost(channel, 'removed');
  }

  ready(): boolean {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#streams.clear();
    this.#empty.clear();
  }

  #stream(channel: string, now: number): Stream {
    let stream = this.#streams.get(channel);
    if (!stream) {
      stream = { epoch: `${EPOCH_PREFIX}${(epochCounter++).toString(36)}`, offset: 0, items: [], expires: [], touched: now, idempotency: new Map() };
      this.#streams.set(channel, stream);
      this.#empty.add(channel);
      if (this.#empty.size > this.maxEmptyStreams) this.#evictEmpty();
    }
    stream.touched = now;
    return stream;
  }

  /** Forget the oldest never-published streams nobody here subscribes to. */
  #evictEmpty(): void {
    for (const channel of this.#empty) {
      if (this.#empty.size <= this.maxEmptyStreams) return;
      if (this.#interest.has(channel)) continue;
      this.#empty.delete(channel);
      this.#streams.delete(channel);
    }
  }

  #expireItems(stream: Stream, now: number): void {
    let n = 0;
    while (n < stream.expires.length && (stream.expires[n] as number) <= now) n++;
    if (n > 0) {
      stream.items.splice(0, n);
      stream.expires.splice(0, n);
    }
  }

  #sweep(): void {
    const now = this.now();
    for (const [channel, stream] of this.#streams) {
      this.#expireItems(stream, now);
      for (const [key, seen] of stream.idempotency) if (seen.expires <= now) stream.idempotency.delete(key);
      if (this.#interest.has(channel) || stream.items.length > 0 || stream.idempotency.size > 0) continue;
      if (now - stream.touched > (stream.offset === 0 ? EMPTY_STREAM_TTL : STREAM_META_TTL)) {
        this.#streams.delete(channel);
        this.#empty.delete(channel);
      }
    }
  }
}
