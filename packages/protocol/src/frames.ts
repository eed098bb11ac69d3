/**
 * Frame types of protocol v1 (JSON text). A WebSocket message carries one or more
 * frames separated by "\n". Commands carry a numeric `id`; the reply carries the same
 * `id` with `result` or `error`. Pushes carry no `id`. See docs/protocol.md.
 */

/** Wire protocol version sent by clients in `connect` and by the server in its reply. */
export const PROTOCOL_VERSION = 1;
/** WebSocket subprotocol name a client may offer (optional; JSON is the default). */
export const SUBPROTOCOL_JSON = 'switchboard.v1.json';

export interface ReplyError {
  code: number;
  message: string;
  temporary: boolean;
  /** With 111 TooManyRequests from a rate budget: milliseconds until the same command may succeed. */
  retryAfter?: number;
  /** Details a caller may act on (a JSON value), e.g. `{ holder }` with 130 Locked. */
  data?: unknown;
}

/** A position in a channel's stream: the last seen offset and the stream's epoch. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Who published, for channels that expose publisher info. */
export interface PublisherInfo {
  user: string;
  client: string;
  /** The public `info` of the publisher's token (name, avatar, role…), when it has one. */
  info?: unknown;
}

/** A publication's tags: a small string map that subscription filters match against. */
export type Tags = Record<string, string>;

/**
 * A subscription filter over publication tags. `tags`: every named tag equals the value,
 * or one of the values of a list (implicit AND); `and`, `or`, `not` combine filters.
 * Each object has exactly one of the four keys. See docs/protocol.md for the limits.
 */
export type Filter = { tags: Record<string, string | string[]> } | { and: Filter[] } | { or: Filter[] } | { not: Filter };

export interface Publication<T = unknown> {
  offset: number;
  data: T;
  /** Server time of publication, Unix milliseconds. */
  time: number;
  info?: PublisherInfo;
  /** The tags it was published with, if any. */
  tags?: Tags;
}

export type PresenceStatus = 'online' | 'away' | 'idle';

/** One connection (device) present in a channel. */
export interface PresenceDevice<S = unknown> {
  client: string;
  status: PresenceStatus;
  state: S | null;
  /** When this device entered presence, Unix milliseconds. */
  since: number;
  /** The public `info` of this connection's token (name, avatar, role…), when it has one. */
  info?: unknown;
}

/** One user present in a channel, with every device (connection) they are present on. */
export interface PresenceMember<S = unknown> {
  user: string;
  /** The most active status over the user's devices (online > away > idle). */
  status: PresenceStatus;
  /** The token `info` of the user's most recently entered device that has one. */
  info?: unknown;
  devices: PresenceDevice<S>[];
}

export interface ConnectParams {
  token?: string;
  /** Client name, for logs and the console (e.g. "web", "ios"). */
  name?: string;
  version?: string;
  /** Positions of server-side subscriptions to restore with recovery, by channel. */
  subs?: Record<string, StreamPosition>;
}
export interface ConnectResult {
  client: string;
  user: string;
  tenant: string;
  protocol: number;
  /** Token expiry, Unix milliseconds; refresh before this. Absent if the token never expires. */
  expires?: number;
  /** Interval at which the server sends pings, milliseconds. */
  ping: number;
  /** Deadline for the pong after each ping, milliseconds. */
  pong: number;
  node: string;
}

export interface RefreshParams {
  token: string;
}
export interface RefreshResult {
  expires?: number;
}

export interface SubscribeParams {
  channel: string;
  /** Ask to recover publications after this position (set on resubscribe). */
  recover?: StreamPosition;
  /** Deliver only publications whose tags match (live and recovered); offsets then skip. */
  filter?: Filter;
  /** Ask for delta delivery where the namespace allows it (the reply then says `delta: true`). */
  delta?: 'fossil';
  /** Features whose state of the channel the reply should carry (`["locks"]`), as `state`. */
  state?: string[];
}
export interface SubscribeResult {
  /** The channel's current epoch and last offset. */
  epoch: string;
  offset: number;
  /** True when the namespace keeps history and supports recovery. */
  recoverable: boolean;
  /** Only when `recover` was sent: true when every missed publication is in `publications`. */
  recovered?: boolean;
  /** Missed publications, in offset order, when `recovered` is true. */
  publications?: Publication[];
  /** Info a feature gave this subscription (the app's backend, through the subscribe hook), if any. */
  info?: unknown;
  /**
   * Features' state of the channel, read after the subscription joined it, by feature name
   * (`locks`: the channel's locks, `LockInfo[]`). Later changes arrive as publications.
   */
  state?: Record<string, unknown>;
  /**
   * Delta delivery is on: every `pub` push's `data` is a JSON string — the payload's JSON
   * text, or with `delta: true` the fossil delta from the previous publication's text.
   */
  delta?: boolean;
  /**
   * The namespace conflates: live publications come as `pubs` pushes, each window's latest
   * publication per key, and recovered `publications` are the latest per key of the missed
   * range. Offsets skip by design; the reply's `offset` and each push's `offset` are the position.
   */
  conflated?: boolean;
}

export interface UnsubscribeParams {
  channel: string;
}

export interface PublishParams {
  channel: string;
  data: unknown;
  /** A repeated key within the idempotency window returns the first result and is delivered once. */
  idempotencyKey?: string;
  /** Tags that subscription filters match against; stored and delivered with the publication. */
  tags?: Tags;
}
export interface PublishResult {
  offset: number;
  epoch: string;
  /** True when this publish repeated an earlier idempotency key and was not delivered again. */
  deduplicated?: boolean;
}

export interface HistoryParams {
  channel: string;
  /** Maximum number of publications (capped by the server's page size). */
  limit?: number;
  /** Only publications after this position. */
  since?: StreamPosition;
  /** Newest first. */
  reverse?: boolean;
}
export interface HistoryResult {
  publications: Publication[];
  epoch: string;
  offset: number;
}

export interface PresenceParams {
  channel: string;
}
export interface PresenceResult {
  members: PresenceMember[];
}
export interface PresenceStatsResult {
  users: number;
  connections: number;
}

export interface PresenceSetParams {
  channel: string;
  /** A small JSON object (page, cursor colour, …); size-capped by the server. */
  state?: unknown;
}
export interface PresenceLeaveParams {
  channel: string;
}

export interface StatusParams {
  status: 'online' | 'away';
}

export interface SignalParams {
  channel: string;
  /** Latest-value-wins key, e.g. "typing" or "cursor". */
  key: string;
  data?: unknown;
}

/** Methods of protocol v1 with their params and results. Features add their own methods. */
export interface MethodMap {
  connect: [ConnectParams, ConnectResult];
  refresh: [RefreshParams, RefreshResult];
  subscribe: [SubscribeParams, SubscribeResult];
  unsubscribe: [UnsubscribeParams, Record<string, never>];
  publish: [PublishParams, PublishResult];
  history: [HistoryParams, HistoryResult];
  presence: [PresenceParams, PresenceResult];
  presence_stats: [PresenceParams, PresenceStatsResult];
  presence_set: [PresenceSetParams, Record<string, never>];
  presence_leave: [PresenceLeaveParams, Record<string, never>];
  status: [StatusParams, Record<string, never>];
  signal: [SignalParams, Record<string, never>];
  ping: [Record<string, never>, Record<string, never>];
}
export type MethodName = keyof MethodMap;

export interface Command {
  id: number;
  method: string;
  params?: unknown;
}

export interface Reply {
  id: number;
  result?: unknown;
  error?: ReplyError;
}

/**
 * A live publication. `epoch` names the stream it belongs to: a subscriber that sees an
 * epoch other than its position's, or an offset that skips, has missed publications.
 */
export interface PubPush<T = unknown> extends Publication<T> {
  push: 'pub';
  channel: string;
  epoch: string;
  /** On a delta subscription: `data` is the fossil delta from the previous publication's JSON text. */
  delta?: boolean;
}
/**
 * One conflation window of a channel: the latest publication per key (and every one without a
 * key) of the offsets `after + 1 … offset`, in offset order. A subscriber whose position is at
 * least `after` (same epoch) applies the publications past its position and moves to `offset`;
 * one before `after` has missed publications. `skipped`: publications of the range replaced by
 * a later one of the same key (history keeps them).
 */
export interface PubsPush<T = unknown> {
  push: 'pubs';
  channel: string;
  epoch: string;
  after: number;
  offset: number;
  skipped: number;
  publications: Publication<T>[];
}
export interface JoinPush {
  push: 'join';
  channel: string;
  user: string;
  device: PresenceDevice;
}
export interface LeavePush {
  push: 'leave';
  channel: string;
  user: string;
  device: PresenceDevice;
}
export interface UpdatePush {
  push: 'update';
  channel: string;
  user: string;
  device: PresenceDevice;
}
export interface SignalPush {
  push: 'signal';
  channel: string;
  from: PublisherInfo;
  key: string;
  data: unknown;
}
/**
 * The server removed this subscription: an operator action or permission change, or
 * `3009` (insufficient state) when the channel's stream lost data; the code's range says
 * whether to subscribe again (see DisconnectCode).
 */
export interface UnsubscribePush {
  push: 'unsubscribe';
  channel: string;
  code: number;
  reason: string;
}
/**
 * The server subscribed this connection (the token's `subs`, the HTTP API, a position
 * named in `connect`): the `subscribe` reply's fields, or `error` when it was refused.
 */
export type SubscribePush = { push: 'subscribe'; channel: string } & (SubscribeResult | { error: ReplyError });
/** Answer with `{"method":"pong"}` (no id) before the pong deadline. */
export interface PingPush {
  push: 'ping';
}
/** A feature's own push to this connection (a document's updates for the SDK that opened it): the SDK hands it to the feature's module. */
export interface FeaturePush {
  push: 'feature';
  feature: string;
  event: string;
  data: unknown;
}

export type Push = PubPush | PubsPush | JoinPush | LeavePush | UpdatePush | SignalPush | UnsubscribePush | SubscribePush | PingPush | FeaturePush;
export type ServerFrame = Reply | Push;
