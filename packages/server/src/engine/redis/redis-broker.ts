import { performance } from 'node:perf_hooks';
import {
  type Broker,
  type BrokerHandler,
  type ChannelEvent,
  type HistoryPage,
  type HistoryQuery,
  type PublishOptions,
  type PublishOutcome,
  RateLimited,
  type StreamLoss,
  type StreamPosition,
  type StreamPublication,
} from '../broker.js';
import type { LimitStore } from '../limit-store.js';
import { publishChannelEvent } from './channel-event.js';
import type { RedisConnection } from './connection.js';
import { decodeHistoryEntry, decodeTopicMessage, priorityLetter } from './pubsub-message.js';
import { historyScript, positionScript, publishScript, takeScript, trimScript } from './scripts.js';

/** How long an idle stream keeps its epoch and offset (as the memory broker). */
const STREAM_TTL = 24 * 3_600_000;
/** Streams that never had a publication (created by a read) are forgotten sooner. */
const EMPTY_STREAM_TTL = 5 * 60_000;
/** Most publications fetched from history to fill one gap in delivery. */
const CATCH_UP_LIMIT = 1000;
/** With the position check off, listened channels' streams are still kept alive this often. */
const STREAM_KEEPALIVE = 60_000;
/** How often this node drops the expired entries of the channels it published to that went quiet. */
const TRIM_INTERVAL = 30_000;
/** A quiet channel's entries are dropped this long after the last one expired (Redis time and this node's clock differ a little). */
const QUIET_MARGIN = 1000;
/** Channels checked per round trip by the periodic position check. */
const CHECK_BATCH = 500;
/** A node asks a publish to extend its channel's key TTLs at most this often per channel. */
const REFRESH_INTERVAL = 60_000;
/** Channels (and rate buckets) whose last refresh, epoch or value this node remembers (beyond: forgotten, asked again). */
const MAX_REMEMBERED = 100_000;

/** Where this node's delivery of a channel stands: the last publication handed on. */
interface LastSeen extends StreamPosition {
  /** Its time: with the offset, it tells that publication from another at the same offset. */
  time: number;
}

/** A channel this node listens to: where its delivery stands, and what waits behind a gap. */
interface Listening {
  last: LastSeen | null;
  catchingUp: boolean;
  /** A position check is in flight. */
  checking: boolean;
  held: Array<{ epoch: string; pub: StreamPublication }>;
}

export interface RedisBrokerOptions {
  /** How often each listened channel's position is checked against Redis (ms, default 30000; 0 = never, streams kept alive every minute). */
  positionCheck?: number;
  /**
   * Rate buckets of publishes in a Redis Cluster, where a bucket's key cannot join the
   * publish script (another slot): taken in a round trip of their own before the publish.
   */
  limits?: LimitStore;
}

/** A map that forgets everything once it reaches `MAX_REMEMBERED` entries (a cache of hints). */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_REMEMBERED && !map.has(key)) map.clear();
  map.set(key, value);
}

/**
 * Broker over Redis: one Lua script per publication appends it to the channel's capped
 * stream (entry id `{epoch}-{offset}`: Redis numbers it, so the stream is the sequence),
 * with per-entry expiry, dedupes it and PUBLISHes it, atomically per channel. A node listens to a channel's topic only while it has local
 * subscribers, so each node gets one message per publication. Delivery to the handler is
 * in offset order without gaps: after a reconnect (messages published meanwhile never
 * arrived) or on a gap, the missing publications are read back from history first.
 */
export class RedisBroker implements Broker {
  #handler: BrokerHandler | null = null;
  readonly #conn: RedisConnection;
  readonly #listening = new Map<string, Listening>();
  readonly #positionCheck: NodeJS.Timeout;
  /** Whether the periodic check judges positions (false: it only keeps streams alive). */
  readonly #judge: boolean;
  readonly #limits: LimitStore | null;
  /** When this node last had a publish extend each channel's key TTL. */
  readonly #refreshed = new Map<string, number>();
  /** Each channel's epoch as this node last saw it: a publish passes it, and the script checks it. */
  readonly #epochs = new Map<string, string>();
  /**
   * Each rate bucket's value as this node expects it after its last take: the value the
   * script wrote, or the one the takes still in flight will write (so pipelined publishes
   * of one user each find the value they expect). Lets the script take it in one command.
   */
  readonly #buckets = new Map<string, { value: string; sent: number }>();
  /**
   * Channels this node published to with history, and when their last entry expires: a
   * channel still quiet then has its expired entries dropped (the key, and so its position,
   * stays for a day; its entries need not).
   */
  readonly #quietTrims = new Map<string, number>();
  readonly #trimTimer: NodeJS.Timeout;
  #takes = 0;

  constructor(conn: RedisConnection, options: RedisBrokerOptions = {}) {
    this.#conn = conn.retain();
    this.#limits = options.limits ?? null;
    conn.onResubscribed(() => {
      for (const [channel, l] of this.#listening) if (l.last) void this.#catchUp(channel, l);
    });
    const every = options.positionCheck ?? 30_000;
    this.#judge = every > 0;
    this.#positionCheck = setInterval(() => void this.checkPositions(), every > 0 ? every : STREAM_KEEPALIVE);
    this.#positionCheck.unref();
    this.#trimTimer = setInterval(() => void this.trimQuiet(), TRIM_INTERVAL);
    this.#trimTimer.unref();
  }

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    const l: Listening = { last: null, catchingUp: false, checking: false, held: [] };
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

  /**
   * One script call per publication (rate bucket included, outside a Redis Cluster): it is
   * written to the command connection at once, so publishes issued together travel in one
   * pipeline and are sequenced in the order they were issued.
   */
  async publish(channel: string, data: string, options: PublishOptions): Promise<PublishOutcome> {
    const { cmd, keys } = this.#conn;
    const key = options.idempotencyKey;
    const limit = options.rateLimit;
    const scriptKeys = [keys.stream(channel), keys.idempotency(channel, key ?? '')];
    let bucket: string | null = null;
    const now = this.#conn.clock.arg();
    const interval = limit ? 1000 / limit.ratePerSecond : 0;
    if (limit && this.#conn.clustered) {
      await this.#takeApart(limit, now, interval);
    } else if (limit) {
      bucket = keys.bucket(limit.bucket);
      scriptKeys.push(bucket);
    }
    const historyTtl = Math.max(1, Math.ceil(options.historyTtl));
    const take = bucket === null || !limit ? null : this.#expectTake(bucket, now, interval, limit.burst);
    const reply = (await this.#conn
      .track(
        publishScript.run(cmd, scriptKeys, [
          data,
          options.info ? JSON.stringify(options.info) : '',
          Math.max(0, Math.floor(options.historySize)),
          historyTtl,
          now,
          Math.max(1, Math.ceil(options.idempotencyTtl)),
          this.#epochs.get(channel) ?? '',
          Math.max(STREAM_TTL, historyTtl, Math.ceil(options.idempotencyTtl)),
          keys.topic(channel),
          key === undefined ? '0' : '1',
          this.#refreshDue(channel) ? '1' : '0',
          interval,
          limit ? limit.burst : 0,
          options.tags ? JSON.stringify(options.tags) : '',
          take === null ? '' : take.known,
          options.priority ? priorityLetter(options.priority) : '',
        ]),
      )
      .catch((err: unknown) => {
        if (bucket !== null) this.#buckets.delete(bucket);
        throw err;
      })) as [number, string, number, number | string | undefined];
    if (reply[2] === 2) {
      if (bucket !== null) this.#buckets.delete(bucket);
      throw new RateLimited((limit as { bucket: string }).bucket, Number(reply[3] ?? 1));
    }
    remember(this.#epochs, channel, reply[1]);
    if (options.historySize > 0) remember(this.#quietTrims, channel, performance.now() + historyTtl + QUIET_MARGIN);
    // The value written, unless a later take of this node is in flight (it expects its own).
    if (bucket !== null && take !== null) this.#noteTake(bucket, take.sent, reply[3]);
    return { offset: reply[0], epoch: reply[1], deduplicated: reply[2] === 1 };
  }

  /**
   * The bucket value to pass to a take (what this node expects there, '' = unknown), and
   * the value it expects after it: the script's formula (GCRA, see TAKE in scripts.ts) on
   * the same numbers, so a burst of one user's publishes in one pipeline is one command
   * each. A wrong expectation costs a second command, never a wrong decision: the script
   * recomputes from what the bucket held.
   */
  #expectTake(bucket: string, now: string, interval: number, burst: number): { known: string; sent: number; allowed: boolean } {
    const sent = ++this.#takes;
    const held = this.#buckets.get(bucket);
    if (held === undefined || now === '') return { known: '', sent, allowed: false };
    const at = Number(now);
    const next = Math.max(Number(held.value), at) + interval;
    const allowed = next - at - burst * interval <= 1e-6;
    if (allowed) remember(this.#buckets, bucket, { value: String(next), sent });
    return { known: held.value, sent, allowed };
  }

  /** Keep the value a take wrote as this node's expectation, unless a later take is in flight. */
  #noteTake(bucket: string, sent: number, value: unknown): void {
    if (typeof value !== 'string' || value === '') return;
    const expected = this.#buckets.get(bucket);
    if (expected === undefined || expected.sent === sent) remember(this.#buckets, bucket, { value, sent });
  }

  /**
   * The rate bucket in a Redis Cluster, where its key (another slot) cannot join the publish
   * script. When this node expects the take to succeed, the take is sent without waiting
   * for it, in the same pipeline as the publish; its answer only corrects the expectation.
   * Should another node have spent the tokens meanwhile, the publishes already sent stand
   * (at most those in flight: the next one waits for its take). Otherwise — no expectation
   * yet, or one that says no — the publish waits for the take, as on one Redis.
   */
  async #takeApart(limit: NonNullable<PublishOptions['rateLimit']>, now: string, interval: number): Promise<void> {
    const { cmd, keys } = this.#conn;
    const bucket = keys.bucket(limit.bucket);
    const take = this.#expectTake(bucket, now, interval, limit.burst);
    const taking = this.#conn.track(takeScript.run(cmd, [bucket], [limit.ratePerSecond, limit.burst, 1, now, take.known])).then((reply) => {
      const [wait, value] = reply as [number, string?];
      if (wait > 0) this.#buckets.delete(bucket);
      else this.#noteTake(bucket, take.sent, value);
      return wait;
    });
    if (take.allowed) {
      taking.catch((err: unknown) => {
        this.#buckets.delete(bucket);
        this.#conn.logger?.debug({ err, bucket: limit.bucket }, 'rate bucket take failed');
      });
      return;
    }
    const wait = await taking.catch(() => {
      // Its Redis node is away: the limit store falls back to this node's own bucket.
      this.#buckets.delete(bucket);
      return this.#limits ? this.#limits.takeOrWait(limit.bucket, limit.ratePerSecond, limit.burst) : 0;
    });
    if (wait > 0) throw new RateLimited(limit.bucket, wait);
  }

  /** Whether this publish should extend the channel's key TTLs (once a minute per channel). */
  #refreshDue(channel: string): boolean {
    const now = Date.now();
    const last = this.#refreshed.get(channel);
    if (last !== undefined && now - last < REFRESH_INTERVAL && now >= last) return false;
    remember(this.#refreshed, channel, now);
    return true;
  }

  async publishEvent(channel: string, event: ChannelEvent): Promise<void> {
    await publishChannelEvent(this.#conn, channel, event);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const { cmd, keys } = this.#conn;
    const since = query.since;
    const start = since && Number.isSafeInteger(since.offset) ? String(Math.max(0, since.offset) + 1) : '';
    const reply = (await this.#conn.track(
      historyScript.run(
        cmd,
        [keys.stream(channel)],
        [
          this.#epochs.get(channel) ?? '',
          EMPTY_STREAM_TTL,
          STREAM_TTL,
          start,
          since?.epoch ?? '',
          Math.max(0, Math.floor(query.limit)),
          query.reverse ? '1' : '0',
          this.#conn.clock.arg(),
        ],
      ),
    )) as [string, number, number, Array<[string, string[]]>];
    const [epoch, offset, firstOffset, entries] = reply;
    remember(this.#epochs, channel, epoch);
    return { publications: entries.map(decodeHistoryEntry), epoch, offset, firstOffset };
  }

  async removeHistory(channel: string): Promise<void> {
    const { cmd, keys } = this.#conn;
    await this.#conn.track(cmd.del(keys.stream(channel)));
    // Other nodes find out from the next publication's epoch or their position check.
    const l = this.#listening.get(channel);
    if (l) this.#lose(channel, l, 'removed');
  }

  ready(): boolean {
    return this.#conn.ready();
  }

  /**
   * Drop the expired entries of the channels this node published to whose last entry has
   * expired since (`now` on this node's monotonic clock; resolves when done). Each is asked
   * once; a publication since re-arms it.
   */
  async trimQuiet(now = performance.now()): Promise<void> {
    if (!this.#conn.ready()) return;
    const due: string[] = [];
    for (const [channel, at] of this.#quietTrims) if (at <= now) due.push(channel);
    for (const channel of due) this.#quietTrims.delete(channel);
    const { cmd, keys } = this.#conn;
    for (let i = 0; i < due.length; i += CHECK_BATCH) {
      await Promise.all(
        due.slice(i, i + CHECK_BATCH).map((channel) =>
          this.#conn.track(trimScript.run(cmd, [keys.stream(channel)], [this.#conn.clock.arg()])).catch((err) => {
            this.#conn.logger?.debug({ err, channel }, 'dropping expired entries failed');
          }),
        ),
      );
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#positionCheck);
    clearInterval(this.#trimTimer);
    this.#listening.clear();
    await this.#conn.release();
  }

  /**
   * Check every listened channel's position against Redis (the periodic safety net; also
   * keeps their streams alive). Resolves when every check has answered or failed.
   */
  async checkPositions(): Promise<void> {
    if (!this.#conn.ready()) return;
    const channels = [...this.#listening.keys()];
    for (let i = 0; i < channels.length; i += CHECK_BATCH) {
      await Promise.all(
        channels.slice(i, i + CHECK_BATCH).map((channel) => {
          const l = this.#listening.get(channel);
          return l ? this.#check(channel, l, this.#judge) : undefined;
        }),
      );
    }
  }

  #onMessage(channel: string, message: string): void {
    let decoded: ReturnType<typeof decodeTopicMessage>;
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
    remember(this.#epochs, channel, decoded.epoch);
    const l = this.#listening.get(channel);
    if (!l) return;
    if (l.catchingUp) {
      l.held.push(decoded);
      return;
    }
    const last = l.last;
    if (last) {
      if (last.epoch !== decoded.epoch) {
        this.#lose(channel, l, 'epoch');
        return;
      }
      if (decoded.pub.offset <= last.offset) {
        // A repeat (history and pub/sub overlapped after a catch-up), or another
        // publication at an offset already delivered: the store went back. Ask it.
        if (decoded.pub.offset < last.offset || decoded.pub.time !== last.time) void this.#check(channel, l, true);
        return;
      }
      if (decoded.pub.offset > last.offset + 1) {
        l.held.push(decoded);
        void this.#catchUp(channel, l);
        return;
      }
    }
    this.#deliver(channel, l, decoded.epoch, decoded.pub);
  }

  #deliver(channel: string, l: Listening, epoch: string, pub: StreamPublication): void {
    l.last = { epoch, offset: pub.offset, time: pub.time };
    this.#handler?.onPublication(channel, pub, epoch);
  }

  /** The stream lost what this node's subscribers were owed: tell the node, start afresh. */
  #lose(channel: string, l: Listening, loss: StreamLoss): void {
    l.last = null;
    l.held = [];
    this.#handler?.onStreamLost(channel, loss);
  }

  /** Deliver what this node missed after `l.last` from history, then what arrived meanwhile. */
  async #catchUp(channel: string, l: Listening): Promise<void> {
    if (l.catchingUp || !l.last) return;
    l.catchingUp = true;
    const since = l.last;
    let loss: StreamLoss | null = null;
    try {
      const page = await this.history(channel, { since, limit: CATCH_UP_LIMIT });
      if (this.#listening.get(channel) === l) loss = this.#fill(channel, l, since, page);
    } catch (err) {
      // Redis did not answer: what arrived meanwhile is delivered only where it follows on.
      this.#conn.logger?.warn({ err, channel }, 'catching up a channel from history failed');
    } finally {
      l.catchingUp = false;
    }
    if (this.#listening.get(channel) !== l) return;
    if (loss) return this.#lose(channel, l, loss);
    // What arrived meanwhile, in order; a gap history could not fill is a loss.
    const held = l.held.sort((a, b) => a.pub.offset - b.pub.offset);
    l.held = [];
    for (const h of held) {
      const last = l.last;
      if (!last) {
        this.#deliver(channel, l, h.epoch, h.pub);
        continue;
      }
      if (last.epoch !== h.epoch) return this.#lose(channel, l, 'epoch');
      if (h.pub.offset <= last.offset) continue;
      if (h.pub.offset > last.offset + 1) return this.#lose(channel, l, 'gap');
      this.#deliver(channel, l, h.epoch, h.pub);
    }
  }

  /** Deliver a history page that follows `since`; the loss it reveals, if any. */
  #fill(channel: string, l: Listening, since: LastSeen, page: HistoryPage): StreamLoss | null {
    if (page.epoch !== since.epoch) return 'epoch';
    if (page.offset < since.offset) return 'regressed';
    for (const pub of page.publications) {
      const last = l.last as LastSeen;
      if (pub.offset <= last.offset) continue;
      if (pub.offset > last.offset + 1) return 'gap';
      this.#deliver(channel, l, page.epoch, pub);
    }
    return null;
  }

  /**
   * Compare where this node's delivery stands with the stream in Redis: the stream gone or
   * in another epoch, its offset below ours, or another publication at our last offset
   * (a failover to a replica that was behind, then overtaken) is a loss.
   */
  async #check(channel: string, l: Listening, judge: boolean): Promise<void> {
    if (l.checking) return;
    l.checking = true;
    const last = judge ? l.last : null;
    const { cmd, keys } = this.#conn;
    try {
      const [epoch, offset, time] = (await this.#conn.track(positionScript.run(cmd, [keys.stream(channel)], [last ? last.offset : '', STREAM_TTL]))) as [
        string | null,
        number,
        number | null,
      ];
      if (this.#listening.get(channel) !== l || !last || l.last === null) return;
      if (epoch === null || epoch !== last.epoch) return this.#lose(channel, l, 'epoch');
      if (offset < last.offset || (time !== null && time !== last.time)) return this.#lose(channel, l, 'regressed');
    } catch (err) {
      this.#conn.logger?.debug({ err, channel }, 'position check failed');
    } finally {
      l.checking = false;
    }
  }
}
