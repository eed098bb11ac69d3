import type { PresenceDevice, PublicationPriority, PublisherInfo, Tags } from '@switchboard/protocol';

/**
 * A publication as stored and fanned out by a broker. `data` is the payload's JSON text,
 * so it is serialised once, when published, and never again.
 */
export interface StreamPublication {
  offset: number;
  time: number;
  data: string;
  info?: PublisherInfo;
  /** Tags that subscription filters match against (checked before publish). */
  tags?: Tags;
  /** Delivery priority when not `normal` (a hint for congested connections; not sent to clients). */
  priority?: PublicationPriority;
}

export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface PublishOptions {
  /** Publications kept in the channel's history (0: none, the offset still advances). */
  historySize: number;
  /** History time to live, milliseconds. */
  historyTtl: number;
  /** Dedupe key: a repeat within `idempotencyTtl` returns the first result and is not delivered. */
  idempotencyKey?: string;
  idempotencyTtl: number;
  info?: PublisherInfo;
  /** Stored and delivered with the publication. */
  tags?: Tags;
  /** Delivery priority when not `normal` (every engine carries it to every node's subscribers). */
  priority?: PublicationPriority;
  /**
   * Take one token from this shared rate bucket first (capacity `burst`, refilled at
   * `ratePerSecond`, across every node); when it is empty nothing is published and the
   * publish fails with RateLimited.
   */
  rateLimit?: { bucket: string; ratePerSecond: number; burst: number };
}

/** A publish refused by its `rateLimit` bucket: nothing was stored or delivered. */
export class RateLimited extends Error {
  constructor(
    readonly bucket: string,
    /** Milliseconds until the bucket has a token again. */
    readonly retryAfterMs: number,
  ) {
    super(`rate bucket ${bucket} is empty`);
    this.name = 'RateLimited';
  }
}

export interface PublishOutcome extends StreamPosition {
  deduplicated: boolean;
}

export interface HistoryQuery {
  /** Only publications with an offset greater than this (ignored when the epoch differs). */
  since?: StreamPosition;
  limit: number;
  reverse?: boolean;
}

export interface HistoryPage extends StreamPosition {
  publications: StreamPublication[];
  /** The lowest offset still held in history (offset + 1 when history is empty). */
  firstOffset: number;
}

/** Ephemeral channel events: fanned out, never stored. */
export type ChannelEvent =
  | { kind: 'join' | 'leave' | 'update'; user: string; device: PresenceDevice }
  | { kind: 'signal'; from: PublisherInfo; key: string; data: string };

/**
 * How a channel's stream lost publications under this node's subscribers:
 * `epoch` — the stream is gone or was started anew (store restarted empty, flushed, keys
 * deleted or evicted); `regressed` — its offset went back or another publication sits at
 * an offset already delivered (failover to a replica that was behind); `gap` — offsets
 * skipped and history could not fill the gap; `removed` — history removed on purpose.
 */
export type StreamLoss = 'epoch' | 'regressed' | 'gap' | 'removed';

export interface BrokerHandler {
  /** A publication of the channel's stream `epoch`, in offset order without gaps. */
  onPublication(channel: string, pub: StreamPublication, epoch: string): void;
  onEvent(channel: string, event: ChannelEvent): void;
  /**
   * The channel's stream lost publications that this node's subscribers were owed; they
   * must resubscribe. Called once per detection, before any publication that follows it.
   */
  onStreamLost(channel: string, loss: StreamLoss): void;
}

/**
 * Broker owns publish AND history: appending to a channel's stream and fanning it out
 * are atomic per channel, which makes offsets and recovery exact. Channel keys are
 * tenant-qualified (`tenant|channel`); the broker never interprets them.
 */
export interface Broker {
  /** Set the single handler that receives this node's publications and events. */
  setHandler(handler: BrokerHandler): void;
  /** This node wants publications of the channel (called when its first local subscriber arrives). */
  subscribe(channel: string): Promise<void>;
  /** This node no longer has local subscribers of the channel. */
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, data: string, options: PublishOptions): Promise<PublishOutcome>;
  publishEvent(channel: string, event: ChannelEvent): Promise<void>;
  history(channel: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Drop a channel's history; the next publication starts a new epoch. */
  removeHistory(channel: string): Promise<void>;
  /** Whether the broker can currently serve (for readiness). */
  ready(): boolean;
  close(): Promise<void>;
}
