import type { HistogramData } from './histogram.js';
import type { EditOutcome, EditPlan } from './light-editor.js';

/** Which channel connection number g (0-based, over all workers) subscribes to. */
export type ChannelLayout =
  /** Everyone on one channel. */
  | { kind: 'one'; channel: string }
  /** Consecutive blocks of `size` connections share `${prefix}${block}` (rooms). */
  | { kind: 'block'; prefix: string; size: number }
  /** Its own personal channel `user:{sub}`. */
  | { kind: 'user' }
  /** No subscription: connect only. */
  | { kind: 'none' };

export function channelOf(layout: ChannelLayout, g: number, sub: string): string {
  if (layout.kind === 'one') return layout.channel;
  if (layout.kind === 'block') return `${layout.prefix}${Math.floor(g / layout.size)}`;
  if (layout.kind === 'none') return '';
  return `user:${sub}`;
}

/** Where and as whom a worker connects. */
export interface Target {
  url: string;
  secret: string;
  tenant: string;
  /** Namespace the capabilities of the bench tokens cover (`<ns>:*`). */
  namespace: string;
  /** Lifetime of the bench tokens: the run's deadline and a margin, so none expires during a run. */
  tokenTtlSeconds: number;
  /** Every node's URL with `--nodes` above 1 (node 0's is `url`); connections round-robin over them. */
  nodeUrls?: string[];
}

/** The URL connection `i` of the run opens: its node's, round-robin over the nodes. */
export function urlFor(target: Target, i: number): string {
  const urls = target.nodeUrls;
  return urls?.length ? (urls[i % urls.length] as string) : target.url;
}

/** Open `count` connections numbered base … base+count-1, each subscribed to its channel. */
export interface OpenRequest {
  type: 'open';
  target: Target;
  base: number;
  count: number;
  /** `sub` claim of connection g is `${userPrefix}${g}`. */
  userPrefix: string;
  layout: ChannelLayout;
  addresses: string[];
  /** Handshakes in flight in this worker. */
  concurrency: number;
  /** Enter presence in the channel after subscribing. */
  presence: boolean;
  /** Count presence events (join / leave / update) received by these connections. */
  watchPresence: boolean;
  /** A label the churn request selects connections by. */
  role: string;
}

/** Every connection of the worker publishes `perConnection` messages to its channel, one every `intervalMs`. */
export interface PublishRequest {
  type: 'publish';
  perConnection: number;
  intervalMs: number;
  deadlineMs: number;
}

/** Presence churn: join, update, leave in turn over the worker's presence-making connections, at `opsPerSecond`. */
export interface ChurnRequest {
  type: 'churn';
  role: string;
  opsPerSecond: number;
  durationMs: number;
}

/** A mix of commands on every connection for `durationMs`, `opsPerSecond` per connection. */
export interface MixRequest {
  type: 'mix';
  opsPerSecond: number;
  durationMs: number;
}

/** Terminate every socket at once, then reconnect each and resubscribe with recovery. */
export interface StormRequest {
  type: 'storm';
  concurrency: number;
  deadlineMs: number;
}

/** Final figures; `expected` is the last offset the publishers got per channel (for the missed count). */
export interface ResultsRequest {
  type: 'results';
  expected: Record<string, number>;
  /** Accepted publications per channel that were meant to be measured. */
  measuredPerChannel: Record<string, number>;
}

/** Where the light editors and joiners of the documents scenario connect, and as whom. */
export interface DocumentTarget {
  target: Target;
  /** The documents endpoint, ws://host:port/documents. */
  url: string;
  doc: string;
  /** Capabilities of their tokens (`<ns>:*` → subscribe, publish). */
  caps: Record<string, string[]>;
  addresses: string[];
}

/** Open the light editors numbered `ids` (each its own user `e<id>`), `concurrency` at a time, each until synced. */
export interface EditorsOpenRequest extends DocumentTarget {
  type: 'editors-open';
  ids: number[];
  concurrency: number;
  timeoutMs: number;
}

/** Every open editor of the worker edits (see EditPlan). */
export interface EditRequest extends EditPlan {
  type: 'edit';
}

/** `count` new clients (users `j<base + i>`) open the document at once and sync it. */
export interface JoinRequest extends DocumentTarget {
  type: 'join';
  base: number;
  count: number;
  timeoutMs: number;
}

/** Open `count` raw connections (numbered base … base+count-1), each with one metric subscription (see MetricClients). */
export interface MetricWatchRequest {
  type: 'metric-watch';
  target: Target;
  base: number;
  count: number;
  /** The series a subscription draws from: watcher g takes `perWatcher` consecutive ones from (g · perWatcher) mod pool. */
  pool: string[];
  perWatcher: number;
  stats: string[];
  maxRate: number;
  window: string;
  /** ms between two ingest batches: the oldest new point of an update was sent about this long after the newest point of the update before. */
  ingestIntervalMs: number;
  addresses: string[];
  concurrency: number;
  timeoutMs: number;
}

/** Open `count` SDK clients (numbered base …) that push points with `metrics(client).push` at `rate` points/s in all for `durationMs`. */
export interface MetricPushRequest {
  type: 'metric-push';
  target: Target;
  base: number;
  count: number;
  series: string;
  rate: number;
  durationMs: number;
  /** Points a client may have unanswered before it is skipped (the SDK's queue holds 10,000). */
  maxPending: number;
  timeoutMs: number;
}

/** The metric watchers' figures since the last `reset`. */
export interface MetricResultsRequest {
  type: 'metric-results';
}

export type WorkerRequest =
  | MetricWatchRequest
  | MetricPushRequest
  | MetricResultsRequest
  | OpenRequest
  | PublishRequest
  | ChurnRequest
  | MixRequest
  | StormRequest
  | ResultsRequest
  | EditorsOpenRequest
  | EditRequest
  | JoinRequest
  | { type: 'counters' }
  | { type: 'reset' }
  | { type: 'close' };

/** Outcome of a group of commands: acknowledged, refused (error codes) and ack latency. */
export interface OpStats {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  latency: HistogramData;
}

export interface OpenReply {
  type: 'opened';
  ok: number;
  failed: number;
  errors: string[];
  /** CLOCK_MONOTONIC µs of the first attempt and of the last completed one. */
  startUs: number;
  endUs: number;
  /** Open + connect + subscribe time of each successful connection. */
  latency: HistogramData;
}

export interface PublishReply {
  type: 'published';
  stats: OpStats;
  /** Accepted publications per channel, and the highest offset acknowledged per channel. */
  perChannel: Record<string, number>;
  lastOffset: Record<string, number>;
}

export interface ChurnReply {
  type: 'churned';
  ops: Record<string, OpStats>;
}

export interface MixReply {
  type: 'mixed';
  ops: Record<string, OpStats>;
  perChannel: Record<string, number>;
  lastOffset: Record<string, number>;
  /** Signals sent per channel (each should reach every other subscriber of the channel). */
  signalsPerChannel: Record<string, number>;
}

export interface StormReply {
  type: 'stormed';
  t0Us: number;
  /** When the last connection got its recovery reply. */
  lastUs: number;
  reconnected: number;
  recovered: number;
  notRecovered: number;
  failed: number;
  recoveredPublications: number;
  errors: string[];
  latency: HistogramData;
}

/** Live counters, polled about once a second for the progress line. */
export interface CountersReply {
  type: 'counters';
  open: number;
  failed: number;
  received: number;
  measured: number;
  presenceEvents: number;
  /** Latencies since the previous poll. */
  recent: HistogramData;
  lastRecvUs: number;
}

export interface ResultsReply {
  type: 'results';
  connections: number;
  open: number;
  /** Publications received (every push `pub`), those meant to be measured, and their latency. */
  received: number;
  measured: number;
  latency: HistogramData;
  minPerConnection: number;
  maxPerConnection: number;
  /** Offsets skipped (a gap in what one connection received, or still missing at the end). */
  missed: number;
  /** An offset received twice in a row by one connection, and an offset lower than the last one. */
  duplicates: number;
  outOfOrder: number;
  presenceEvents: number;
  presenceLatency: HistogramData;
  signals: number;
  /** Connections lost without being asked to close, by close code. */
  lost: Record<string, number>;
  /** Connections that did all they were asked and received every measured publication of their channel. */
  succeeded: number;
  /** Measured publications the open connections should have received (sum over them of their channel's count). */
  expected: number;
  lastRecvUs: number;
}

export interface EditorsOpenReply {
  type: 'editors-opened';
  ok: number;
  failed: number;
  errors: string[];
  /** Open → sync step 2 of each editor that synced. */
  latency: HistogramData;
}

export interface EditReply extends EditOutcome {
  type: 'edited';
  /** Editors whose socket closed without the bench asking, by close code. */
  lost: Record<string, number>;
}

export interface JoinReply {
  type: 'joined';
  ok: number;
  failed: number;
  errors: string[];
  /** Open → sync step 2 of each client that synced. */
  latency: HistogramData;
  /** Markers (editors' updates) in each synced client's step 2. */
  markers: number[];
  /** Size of the largest step 2, bytes. */
  maxBytes: number;
}

export interface MetricWatchReply {
  type: 'metric-watching';
  ok: number;
  failed: number;
  errors: string[];
  /** Open + connect + subscribe reply of each watcher. */
  latency: HistogramData;
  /** The rate each subscription reply stated (distinct values). */
  rates: number[];
}

export interface MetricPushReply {
  type: 'metric-pushed';
  clients: number;
  failedClients: number;
  errors: string[];
  offered: number;
  accepted: number;
  refused: number;
  refusals: Record<string, number>;
  /** Points not offered because their client had `maxPending` unanswered. */
  heldBack: number;
  /** push() → settled, per point. */
  latency: HistogramData;
  startUs: number;
  endUs: number;
}

export interface MetricResultsReply {
  type: 'metric-results';
  watchers: number;
  /** Live frames (kind update), and series updates in them (a series with its buckets in one frame). */
  frames: number;
  seriesUpdates: number;
  bucketUpdates: number;
  /** Bytes of the WebSocket messages that carried live frames. */
  bytes: number;
  /** Updates the server said it skipped (`skipped`, under backpressure). */
  skipped: number;
  /** Frames less than 1000 / rate ms after the previous one (the frames' `at`), and frames beyond `rate` in one second of `at`. */
  closerThanInterval: number;
  aboveCapPerSecond: number;
  /** Most frames one subscription received in one second of `at`. */
  maxPerSecond: number;
  /** Receipt − send time of the newest point a series update carries, and of the oldest (the batch after the newest of the update before). */
  newest: HistogramData;
  oldest: HistogramData;
  lost: Record<string, number>;
  minFramesPerWatcher: number;
}

export type WorkerReply =
  | MetricWatchReply
  | MetricPushReply
  | MetricResultsReply
  | OpenReply
  | PublishReply
  | ChurnReply
  | MixReply
  | StormReply
  | CountersReply
  | ResultsReply
  | EditorsOpenReply
  | EditReply
  | JoinReply
  | { type: 'reset' }
  | { type: 'closed' }
  /** The request expecting reply `replyTo` failed. */
  | { type: 'failed'; replyTo: string; message: string };

/** The reply type of each request type. */
export const REPLY_OF = {
  'metric-watch': 'metric-watching',
  'metric-push': 'metric-pushed',
  'metric-results': 'metric-results',
  open: 'opened',
  publish: 'published',
  churn: 'churned',
  mix: 'mixed',
  storm: 'stormed',
  results: 'results',
  'editors-open': 'editors-opened',
  edit: 'edited',
  join: 'joined',
  counters: 'counters',
  reset: 'reset',
  close: 'closed',
} as const satisfies Record<WorkerRequest['type'], WorkerReply['type']>;

/** The payload of a bench publication: publisher timestamp (µs, CLOCK_MONOTONIC), sequence, warm-up flag (not measured), padding. */
export interface BenchPayload {
  t: number;
  s: number;
  w?: 1;
  b: string;
}

/** ~64 bytes of padding: each publication is a realistic ~150-byte push. */
export const BODY = 'switchboard-bench-'.padEnd(64, 'x');
