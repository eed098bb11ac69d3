import type { Config } from '../config/schema.js';
import type { NodeStats } from '../observability/stats.js';
import type { Connection } from './connection.js';
import { CONFLATE_HIGH, CONFLATE_LOW, type HeldWindow } from './held-window.js';
import { CONTROL_LANE, type Priority, PriorityQueue } from './priority-queue.js';
import type { TrafficCounter } from './tenant-views.js';

/** What the outbound queue needs of its connection's owner. */
export interface OutboundHost {
  readonly config: Config;
  readonly stats: Pick<NodeStats, 'drop' | 'messagesOut' | 'bytesOut'>;
  /** Write this connection at the end of the turn (the node's FlushQueue). */
  markDirty(): void;
  /** The connection is too slow: close it (3006). */
  slowConsumer(): void;
  /** A channel's frames were shed to keep the connection: its subscription must resubscribe (3009). */
  shed(key: string): void;
}

/** How often a congested connection's socket is looked at while it has not drained. */
const PUMP_POLL_MS = 10;

/**
 * One connection's outbound frames. Uncongested (the fast path), frames queued in a turn go
 * out as one message at its end, in the order queued. Once the backlog (bytes the socket has
 * not written plus bytes queued) is above `limits.queueSignalDropBytes`, frames are held in a
 * PriorityQueue instead, by channel and priority, and written as the socket drains: control
 * frames (replies, pings) first, then critical, high, normal and low channels, each channel's
 * frames in their order. Back on the fast path once the held frames are out. A conflated
 * channel's held windows join into one frame (its low publications conflated across windows);
 * over `limits.queueMaxBytes`, its normal then high ones are conflated too before any channel
 * is shed or the connection closed.
 */
export class Outbound {
  #queue: Buffer[] = [];
  /** The stream of each queued frame (see Connection.send). */
  #streams: (string | null)[] = [];
  #queuedBytes = 0;
  #dirty = false;
  /** Held frames while congested (null: the fast path). */
  #held: PriorityQueue | null = null;
  #pumping = false;
  traffic: TrafficCounter | null = null;

  constructor(
    private readonly conn: Connection,
    private readonly host: OutboundHost,
  ) {}

  /** Bytes queued (or held) and not yet written, plus what the socket has not sent yet. */
  get backlog(): number {
    return this.conn.bufferedAmount() + this.#queuedBytes + (this.#held?.bytes ?? 0);
  }

  /** Whether frames are queued for the end of this turn. */
  get pending(): boolean {
    return this.#dirty || this.#queue.length > 0;
  }

  /**
   * Queue one frame; `lane` is its channel key (absent: a control frame), `priority` its
   * publication's, `window` (a conflated channel's frame) what it holds, asked for only while
   * congested. `droppable` frames (signals) are dropped while congested. `stream` names the
   * sequence the frame belongs to for compression (a channel's publications of one kind).
   */
  enqueue(bytes: Buffer, droppable: boolean, lane?: string, priority?: Priority, window?: () => HeldWindow, stream: string | null = null): void {
    const limits = this.host.config.limits;
    const backlog = this.backlog;
    if (droppable && backlog > limits.queueSignalDropBytes) {
      this.host.stats.drop('signal_backpressure');
      return;
    }
    if (this.#held !== null || backlog > limits.queueSignalDropBytes) {
      this.#hold(bytes, lane ?? CONTROL_LANE, priority, window);
      return;
    }
    if (backlog >= limits.queueMaxBytes) {
      this.host.stats.drop('slow_consumer');
      this.clear();
      this.host.slowConsumer();
      return;
    }
    this.#queue.push(bytes);
    this.#streams.push(stream);
    this.#queuedBytes += bytes.length;
    if (!this.#dirty) {
      this.#dirty = true;
      this.host.markDirty();
    }
  }

  /**
   * Hold a frame while congested. Over `queueMaxBytes`, held conflated windows are conflated
   * further first (normal, then high publications); then a connection holding no critical frame
   * is closed as a slow consumer; one that does first sheds the channels with no critical frame
   * held (lowest priority first; each resubscribes and recovers what it lost), and is closed
   * only when control and critical frames alone exceed the limit.
   */
  #hold(bytes: Buffer, lane: string, priority: Priority | undefined, window: (() => HeldWindow) | undefined): void {
    this.#held ??= new PriorityQueue();
    const held = this.#held;
    this.#conflated(held.push(lane, bytes, priority, window?.()));
    const limit = this.host.config.limits.queueMaxBytes;
    const outside = this.conn.bufferedAmount() + this.#queuedBytes;
    for (let level = CONFLATE_LOW - 1; level >= CONFLATE_HIGH && outside + held.bytes > limit; level--) this.#conflated(held.conflate(level));
    if (outside + held.bytes > limit) {
      // Nothing critical to make room for: a slow consumer, as ever.
      const shed = held.holdsCritical ? held.shed(Math.max(0, limit - outside)) : [];
      if (outside + held.bytes > limit) {
        this.host.stats.drop('slow_consumer');
        this.clear();
        this.host.slowConsumer();
        return;
      }
      for (const key of shed) {
        this.host.stats.drop('priority_shed');
        this.host.shed(key);
      }
    }
    this.#schedulePump();
  }

  #conflated(n: number): void {
    for (let i = 0; i < n; i++) this.host.stats.drop('conflated_backpressure');
  }

  /** Drop a channel's held frames (the connection left it). */
  dropLane(key: string): void {
    this.#held?.drop(key);
  }

  #schedulePump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    const wait = (): void => {
      if (this.#held === null) {
        this.#pumping = false;
        return;
      }
      if (this.conn.bufferedAmount() <= this.host.config.limits.queueSignalDropBytes) {
        setImmediate(this.#pump);
        return;
      }
      // The socket's 'drain' comes only after a write it refused; a short poll covers the rest.
      setTimeout(wait, PUMP_POLL_MS).unref();
    };
    wait();
  }

  /** Write one budget of held frames in priority order (after this turn's fast-path frames). */
  readonly #pump = (): void => {
    this.#pumping = false;
    const held = this.#held;
    if (held === null) return;
    if (this.pending) this.flush();
    const frames = held.take(this.host.config.limits.queueSignalDropBytes);
    if (frames.length > 0) this.#write(frames);
    if (held.size === 0) this.#held = null;
    else this.#schedulePump();
  };

  /** Write everything queued this turn as one WebSocket message. */
  flush(): void {
    this.#dirty = false;
    if (this.#queue.length === 0) return;
    this.#write(this.#queue, this.#streams);
    this.#queue.length = 0;
    this.#streams.length = 0;
    this.#queuedBytes = 0;
  }

  #write(frames: Buffer[], streams?: (string | null)[]): void {
    const n = frames.length;
    let bytes = 0;
    if (frames === this.#queue) bytes = this.#queuedBytes;
    else for (const f of frames) bytes += f.length;
    const stats = this.host.stats;
    stats.messagesOut += n;
    stats.bytesOut += bytes + n - 1;
    const traffic = this.traffic;
    if (traffic) {
      traffic.out += n;
      traffic.bytesOut += bytes + n - 1;
    }
    this.conn.send(frames, n, bytes, streams);
  }

  /** Forget everything queued and held (the connection is closing without it). */
  clear(): void {
    this.#queue = [];
    this.#streams = [];
    this.#queuedBytes = 0;
    this.#held?.clear();
    this.#held = null;
  }

  /** On close: write what this turn queued and what is held, in priority order, then nothing more. */
  flushAll(): void {
    this.flush();
    const held = this.#held;
    if (held !== null && held.size > 0) this.#write(held.take(Number.POSITIVE_INFINITY));
    this.#held = null;
  }
}
