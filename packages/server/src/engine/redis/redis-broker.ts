import { randomBytes } from 'node:crypto';
import type {
  Broker, BrokerHandler, ChannelEvent, HistoryPage, HistoryQuery, PublishOptions, PublishOutcome, StreamPosition, StreamPublication,
} from '../broker.js';
import type { RedisConnection } from './connection.js';
import { decodeHistoryEntry, decodeTopicMessage, encodeEvent } from './pubsub-message.js';
import { historyScript, publishScript } from './scripts.js';

/** How long an idle stream keeps its epoch and offset (as the memory broker). */
const STREAM_META_TTL = 24 * 3_600_000;
/** Streams that never had a publication (created by a read) are forgotten sooner. */
const EMPTY_STREAM_TTL = 5 * 60_000;
/** Channels with local subscribers keep their meta alive: refreshed this often. */
const META_REFRESH_INTERVAL = 10 * 60_000;
/** Most publications fetched from history to fill one gap in delivery. */
const CATCH_UP_LIMIT = 1000;

/** A channel this node listens to: where its delivery stands, and what waits behind a gap. */
interface Listening {
  last: StreamPosition | null;
  catchingUp: boolean;
  held: Array<{ epoch: string; pub: StreamPublication }>;
}

const newEpoch = () => randomBytes(6).toString('base64url');

/**
 * Broker over Redis: one Lua script per publication sequences it (offset and epoch in a
 * hash), appends it to a capped stream with per-entry expiry, dedupes it and PUBLISHes it,
 * atomically per channel. A node listens to a channel's topic only while it has local
 * subscribers, so each node gets one message per publication. Delivery to the handler is
 * in offset order without gaps: after a reconnect (messages published meanwhile never
 * arrived) or on a gap, the missing publications are read back from history first.
 */
export class RedisBroker implements Broker {
  #handler: BrokerHandler | null = null;
  readonly #conn: RedisConnection;
  readonly #listening = new Map<string, Listening>();
  readonly #metaRefresh: NodeJS.Timeout;

  constructor(conn: RedisConnection) {
    this.#conn = conn.retain();
    conn.onResubscribed(() => {
      for (const [channel, l] of this.#listening) if (l.last) void this.#catchUp(channel, l);
    });
    this.#metaRefresh = setInterval(() => this.#refreshMeta(), META_REFRESH_INTERVAL);
    this.#metaRefresh.unref();
  }

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    const l: Listening = { last: null, catchingUp: false, held: [] };
    this.#listening.set(channel, l);
    try {
      await this.#conn.subscribe(this.#conn.keys.topic(channel), (message) => this.#onMessage(channel, message));
    } catch (err) {
      if (this.#listening.get(channel) === l) this.#listening.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#listening.delete(channel);
    await this.#conn.unsubscribe(this.#conn.keys.topic(channel));
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<PublishOutcome> {
    const { cmd, keys } = this.#conn;
    const key = options.idempotencyKey;
    const reply = await this.#conn.track(publishScript.run(cmd, [keys.meta(channel), keys.history(channel), keys.idempotency(channel, key ?? '')], [
      data,
      options.info ? JSON.stringify(options.info) : '',
      Math.max(0, Math.floor(options.historySize)),
      Math.max(1, Math.ceil(options.historyTtl)),
      Math.max(1, Math.ceil(options.idempotencyTtl)),
      newEpoch(),
      Math.max(STREAM_META_TTL, Math.ceil(options.historyTtl), Math.ceil(options.idempotencyTtl)),
      keys.topic(channel),
      key === undefined ? '0' : '1',
    ])) as [number, string, number];
    return { offset: reply[0], epoch: reply[1], deduplicated: reply[2] === 1 };
  }

  async publishEvent(channel: string, event: ChannelEvent): Promise<void> {
    await this.#conn.track(this.#conn.cmd.publish(this.#conn.keys.topic(channel), encodeEvent(event)));
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const { cmd, keys } = this.#conn;
    const since = query.since;
    const start = since && Number.isSafeInteger(since.offset) ? `${Math.max(0, since.offset) + 1}-0` : '';
    const reply = await this.#conn.track(historyScript.run(cmd, [keys.meta(channel), keys.history(channel)], [
      newEpoch(),
      EMPTY_STREAM_TTL,
      STREAM_META_TTL,
      start,
      since?.epoch ?? '',
      Math.max(0, Math.floor(query.limit)),
      query.reverse ? '1' : '0',
    ])) as [string, number, number, Array<[string, string[]]>];
    const [epoch, offset, firstOffset, entries] = reply;
    return { publications: entries.map(decodeHistoryEntry), epoch, offset, firstOffset };
  }

  async removeHistory(channel: string): Promise<void> {
    const { cmd, keys } = this.#conn;
    await this.#conn.track(cmd.del(keys.meta(channel), keys.history(channel)));
  }

  ready(): boolean {
    return this.#conn.ready();
  }

  async close(): Promise<void> {
    clearInterval(this.#metaRefresh);
    this.#listening.clear();
    await this.#conn.release();
  }

  #onMessage(channel: string, message: string): void {
    let decoded;
    try {
      decoded = decodeTopicMessage(message);
    } catch (err) {
      this.#conn.logger?.warn({ err, channel }, 'undecodable pub/sub message');
      return;
    }
    if (!decoded) return;
    if (decoded.kind === 'event') {
      this.#handler?.onEvent(channel, decoded.event);
      return;
    }
    const l = this.#listening.get(channel);
    if (!l) return;
    if (l.catchingUp) {
      l.held.push(decoded);
      return;
    }
    const last = l.last;
    if (last && last.epoch === decoded.epoch) {
      if (decoded.pub.offset <= last.offset) return;
      if (decoded.pub.offset > last.offset + 1) {
        l.held.push(decoded);
        void this.#catchUp(channel, l);
        return;
      }
    }
    this.#deliver(channel, l, decoded.epoch, decoded.pub);
  }

  #deliver(channel: string, l: Listening, epoch: string, pub: StreamPublication): void {
    l.last = { epoch, offset: pub.offset };
    this.#handler?.onPublication(channel, pub);
  }

  /** Deliver what this node missed after `l.last` from history, then what arrived meanwhile. */
  async #catchUp(channel: string, l: Listening): Promise<void> {
    if (l.catchingUp || !l.last) return;
    l.catchingUp = true;
    const since = l.last;
    try {
      const page = await this.history(channel, { since, limit: CATCH_UP_LIMIT });
      if (this.#listening.get(channel) === l && page.epoch === since.epoch) {
        for (const pub of page.publications) if (pub.offset > (l.last?.offset ?? 0)) this.#deliver(channel, l, since.epoch, pub);
      }
    } catch (err) {
      this.#conn.logger?.warn({ err, channel }, 'catching up a channel from history failed; delivering what arrived');
    } finally {
      l.catchingUp = false;
    }
    if (this.#listening.get(channel) !== l) return;
    // What arrived meanwhile, in order; a gap history could not fill is delivered as is.
    const held = l.held.sort((a, b) => a.pub.offset - b.pub.offset);
    l.held = [];
    for (const h of held) {
      if (l.last && l.last.epoch === h.epoch && h.pub.offset <= l.last.offset) continue;
      this.#deliver(channel, l, h.epoch, h.pub);
    }
  }

  #refreshMeta(): void {
    const { cmd, keys } = this.#conn;
    if (!this.#conn.ready() || this.#listening.size === 0) return;
    // One command per channel, not a pipeline: in a Redis Cluster the keys live on different nodes.
    const refreshed = [...this.#listening.keys()].map((channel) => cmd.pexpire(keys.meta(channel), STREAM_META_TTL, 'GT'));
    Promise.all(refreshed).catch((err) => this.#conn.logger?.debug({ err }, 'meta refresh failed'));
  }
}
