import type { DisconnectInfo, PresenceMember, PresenceStatus, PublicationPriority, Tags } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Identity } from '../auth/token-verifier.js';
import type { Config } from '../config/schema.js';
import type { HistoryPage, PublishOutcome, StreamPosition } from '../engine/broker.js';
import type { ChannelList, SurveyHandler, SurveyResult } from '../engine/control-bus.js';
import type { LeaseStore } from '../engine/lease-store.js';
import type { NodeMessages } from '../engine/node-messages.js';
import type { ReplyError } from '../errors/reply-error.js';
import type { SelfFigures } from '../observability/self-figures.js';
import type { Storage } from '../storage/storage.js';
import type { ResolvedChannel } from './channels.js';
import type { ConnectionMeta } from './connection.js';
import type { PayloadKind } from './payload-schemas.js';
import type { SecurityEvents } from './security-events.js';
import type { TenantQuotas } from './tenant-quotas.js';
import type { TenantViews } from './tenant-views.js';

/**
 * Questions put to every live node at once, each answered from what that node holds (its
 * own connections): one handler per kind on each node, the answers of those that answered
 * in time (this node's first). A feature's kinds are its own (`<feature>/<kind>`).
 */
export interface SurveysView {
  /**
   * Set what this node answers to `kind` (a later handler replaces it): a JSON value, or
   * undefined for no answer. A feature's handler that throws is logged and gives no answer.
   * @example ctx.node.surveys.answer('connections', (req) => countsOf(req));
   */
  answer(kind: string, handler: SurveyHandler): void;
  /**
   * Ask every live node, this one included; bounded in time (`complete` false when a live
   * node did not answer). The engine unreachable: a 503 `ReplyError` (Unavailable).
   * @example const { answers, nodes, complete } = await ctx.node.surveys.ask('connections', { tenant, channels });
   */
  ask(kind: string, request: unknown): Promise<SurveyResult>;
}

/** Node messages as features and routes see them: the engine closes them, not they. */
export type NodeMessagesView = Omit<NodeMessages, 'close'>;
/** Leases as features and routes see them. */
export type LeaseStoreView = Omit<LeaseStore, 'close'>;
/** Token buckets every node takes from (the engine's limit store: one bucket across the cluster on Redis). */
export interface RatesView {
  /** Take `cost` tokens (default 1) from `bucket` (capacity `burst`, refilled at `ratePerSecond`): false when empty. */
  take(bucket: string, ratePerSecond: number, burst: number, cost?: number): Promise<boolean>;
  /** `take`, answering 0 when taken, else the milliseconds until `cost` tokens could be taken. */
  takeOrWait(bucket: string, ratePerSecond: number, burst: number, cost?: number): Promise<number>;
  /** Whether the buckets are shared by several nodes (Redis, or the workers of one host); false: this node's alone. */
  readonly shared: boolean;
}

export interface PublishRequest {
  idempotencyKey?: string;
  /** The connection that publishes (null or absent: the server, e.g. the HTTP API or a feature). */
  client?: SessionContext | null;
  /** A shared rate bucket the publish takes a token from, in the same step (111 when empty). */
  rateLimit?: { bucket: string; ratePerSecond: number; burst: number };
  /** Tags that subscription filters match against (limits checked: 124; 108 where the namespace has tags off). */
  tags?: Tags;
  /**
   * Delivery priority on congested connections (default: the namespace's `priorities.default`).
   * A client's publish may use only what `priorities.allowed` lists (103); the server may use any.
   */
  priority?: PublicationPriority;
}

export interface HistoryRequest {
  limit: number;
  since?: StreamPosition;
  reverse?: boolean;
}

/** One open connection of this node, as `localSessions` lists it. */
export interface LocalSession {
  readonly client: SessionContext;
  /** Its subscriptions `afterSubscribe` announced (`onUnsubscribe` follows once for each), each with its presence state when `onPresenceJoin` announced it (else null). */
  readonly channels: ReadonlyArray<{ readonly channel: ResolvedChannel; readonly presence: { readonly state: string | null } | null }>;
}

/**
 * Who a presence hook is about: a connection with an entry in a channel's presence. Kernel
 * sessions (`session` set) and the connections of a feature's own WebSocket endpoint (a
 * document's y-websocket or Hocuspocus provider, an SDK document handle sharing awareness:
 * `session` null) are both members, so a module hears every member the same way.
 */
export interface PresenceClient {
  /** The connection's id, unique on the cluster: the device's `client` in presence lists. */
  readonly id: string;
  readonly identity: { readonly tenant: string; readonly user: string };
  /** Unix ms: when the session was accepted; for a feature's connection, when it entered this channel's presence. */
  readonly connectedAt: number;
  /**
   * The kernel session when the member is one. Null for a feature's connection: it has no
   * session, so no `onConnect` / `onDisconnect`, no subscriptions and no locks of its own.
   */
  readonly session: SessionContext | null;
}

/** A connection of a feature's own endpoint, as it appears in a channel's presence. */
export interface FeaturePresenceMember {
  /** The connection's id: unique on the cluster (it is the device's `client` in presence lists). */
  client: string;
  user: string;
  /** The token's public `info`, shown with the device. */
  info?: unknown;
  /** JSON text of the device's state (null: none), at most `limits.maxPresenceStateBytes`. */
  state: string | null;
}

/** One feature connection's place in a channel's presence. */
export interface FeaturePresence {
  /** Replace its state (JSON text or null): an `update` event where the namespace has join/leave events. */
  update(state: string | null): Promise<void>;
  /** Leave the channel's presence (a `leave` event); later calls do nothing. */
  leave(): Promise<void>;
}

/** A feature connection's presence entry on this node, as `localFeaturePresences` lists it: what `onPresenceJoin` announced. */
export interface LocalFeaturePresence {
  readonly client: PresenceClient;
  readonly channel: ResolvedChannel;
  /** Its state now (JSON text, null: none), as the last presence hook told it. */
  readonly state: string | null;
}

/** What the node provides once it started: durable data and the running features' services. */
export interface NodeServices {
  readonly storage: Storage;
  feature<T>(name: string): T;
}

/**
 * The running node as features, commands and HTTP routes see it: channel operations,
 * limits, clock, logger, storage, node-to-node messages, leases and the features'
 * services; never the `Node` class or its engine, and its connections only as a read-only
 * list (`localSessions`).
 *
 * A feature gets a view scoped to it (`ctx.node`): its logger, its messages and leases
 * (`<feature>.<op>`, `<feature>/<key>`) and only the services its manifest's `dependsOn` lists.
 */
export interface NodeContext {
  /** Where a user is present, the tenant's live numbers and the connections of one tenant or all, over every node. */
  readonly tenantViews: Pick<TenantViews, 'userPresence' | 'stats' | 'connections' | 'errors' | 'channelRates'>;
  /**
   * Per-tenant quotas: what applies to a tenant (`limit`, `sources`), stored overrides
   * (`store`), the tenant's publish quota (`spendPublish`), and rows a feature stores
   * (`countRowsWith` at start, `reserveRows` before an insert, `adjustRows` after).
   */
  readonly quotas: Pick<TenantQuotas, 'limit' | 'sources' | 'store' | 'spendPublish' | 'countRowsWith' | 'reserveRows' | 'adjustRows' | 'rowsUsed'>;
  /** This node's id (`nodeId` in the config, else random). */
  readonly id: string;
  /** The whole configuration, validated and frozen. */
  readonly config: Config;
  /** `config.limits`: sizes, rates and counts every path checks. */
  readonly limits: Config['limits'];
  readonly logger: Logger;
  /** The Prometheus registry `/metrics` serves: a feature registers its own metrics in it (`registers: [registry]`). */
  readonly metricsRegistry: Registry;
  /** The node's own figures where `/metrics` reads them (counters, gauges, latency observations): read-only. */
  readonly selfFigures: SelfFigures;
  /** The clock of deadlines and token expiry, Unix ms (tests move it instead of waiting). */
  now(): number;
  /**
   * Security and admin notices (refused tokens, limits hit, forbidden channels, API key use,
   * admin actions): core and the HTTP API report here, a feature subscribes (the audit log)
   * or reports its own admin actions.
   * @example ctx.node.security.subscribe((e) => …); if (ctx.node.security.active) ctx.node.security.report({ … });
   */
  readonly security: SecurityEvents;
  /** True once shutdown began: new work is refused. */
  readonly draining: boolean;
  /**
   * Check a token as `connect` does (signature, algorithm, claims, expiry with the allowed
   * skew): the identity it grants, else a `TokenError` (`failure` invalid or expired) — how
   * a feature's own WebSocket endpoint authenticates its connections.
   */
  verifyToken(token: string | undefined): Promise<Identity>;
  /** A channel name for a tenant, checked against the namespaces (110 invalid, 102 unknown namespace). */
  resolve(tenant: string, channel: unknown): ResolvedChannel;
  /** The namespace's publication size limit (or the message limit): 113 above it. */
  checkPublicationSize(ch: ResolvedChannel, data: string): void;
  /** The namespace's JSON Schema for publication data, presence state or signal data, if declared: 119 naming the first failing path. */
  checkPayload(ch: ResolvedChannel, kind: PayloadKind, value: unknown): void;
  /** Publish serialised JSON `data`: durable in history before fan-out, on every node. */
  publish(ch: ResolvedChannel, data: string, req?: PublishRequest): Promise<PublishOutcome>;
  history(ch: ResolvedChannel, query: HistoryRequest): Promise<HistoryPage>;
  /** Drop a channel's history; its subscribers, on every node, are told to resubscribe. */
  removeHistory(ch: ResolvedChannel): Promise<void>;
  presence(ch: ResolvedChannel): Promise<PresenceMember[]>;
  presenceStats(ch: ResolvedChannel): Promise<{ users: number; connections: number }>;
  /**
   * Put a connection of a feature's own endpoint (not a kernel session) in a channel's
   * presence, as one device of its user: counted against the member quota (LimitExceeded),
   * announced with join / update / leave events where the namespace has them, removed with
   * this node if it dies. The feature calls `leave()` when the connection goes.
   * @example const member = await ctx.node.joinPresence(ch, { client: socketId, user, state: null }); …; await member.leave();
   */
  joinPresence(ch: ResolvedChannel, member: FeaturePresenceMember): Promise<FeaturePresence>;
  /** Channels of a tenant with subscribers on this node. */
  channels(tenant: string): Array<{ channel: string; subscribers: number }>;
  /**
   * This node's connections of a tenant that completed `connect` and are open, with what the
   * hooks announced of them: what a feature that starts recording memberships late (its
   * hooks ignored them until then) fills in from, in the same turn as it starts listening.
   */
  localSessions(tenant: string): LocalSession[];
  /**
   * This node's presence entries of a tenant made by features' own connections
   * (`joinPresence`: document providers, SDK document handles), with their state: what the
   * presence hooks announced and did not yet end, for the same late recording as `localSessions`.
   */
  localFeaturePresences(tenant: string): LocalFeaturePresence[];
  /** Channels of a tenant with subscribers on any live node; bounded in time. */
  clusterChannels(tenant: string, prefix?: string): Promise<ChannelList>;
  /** Close every connection of a user (or one of them), on every node. */
  disconnectUser(tenant: string, user: string, info?: DisconnectInfo, client?: string): Promise<void>;
  /** Remove a user's subscription to a channel, on every node. */
  unsubscribeUser(tenant: string, user: string, channel: string): Promise<void>;
  /** Subscribe a user's connections to a channel, on every node; each is checked like `subscribe` (refusals are pushed to the client). */
  subscribeUser(tenant: string, user: string, channel: string): Promise<void>;
  /** Log an unexpected failure and return the 100 a caller is told instead of its details. */
  internalError(err: unknown, where: string): ReplyError;
  /** Node-to-node messages and node departures. */
  readonly messages: NodeMessagesView;
  /** Leases with fencing tokens, cluster-wide on the Redis engine. */
  readonly leases: LeaseStoreView;
  /**
   * Rate buckets shared by every node; a feature's bucket names are its own (`<feature>/<bucket>`).
   * @example if (!(await ctx.node.rates.take(`user:${tenant}|${user}`, 20, 20))) throw new ReplyError(ErrorCode.TooManyRequests);
   */
  readonly rates: RatesView;
  /**
   * Surveys of every live node (bounded in time), apart from the kernel's; a feature's kinds
   * are its own (`<feature>/<kind>`), so features cannot answer each other's.
   * @example ctx.node.surveys.answer('count', () => local.size); const { answers, complete } = await ctx.node.surveys.ask('count', null);
   */
  readonly surveys: SurveysView;
  /** Durable data (SQLite or PostgreSQL); available once the node started. */
  readonly storage: Storage;
  /** A running feature's service (what its `start` returned). */
  feature<T>(name: string): T;
}

/**
 * One connection as commands and hooks see it: who it is, what it subscribed to, and what
 * happens around the current command's reply.
 */
export interface SessionContext {
  readonly id: string;
  /** Null until `connect` succeeds; set in every other command and in every hook but `onConnect`'s payload (which has it apart). */
  readonly identity: Identity | null;
  readonly meta: ConnectionMeta;
  /** Unix ms. */
  readonly connectedAt: number;
  readonly closed: boolean;
  /** The status shown in presence. */
  readonly status: PresenceStatus;
  /** Whether the connection is subscribed to a channel key (`tenant|channel`). */
  isSubscribed(key: string): boolean;
  readonly subscriptionCount: number;
  /**
   * Bytes queued for this connection and not yet written to the network: above
   * `limits.queueSignalDropBytes` it is congested (signals are dropped, metric frames wait).
   */
  readonly backlog: number;
  /** This connection's publish rate (a feature's command that publishes takes from it too). */
  readonly publishBucket: { take(): boolean };
  /** Run `fn` right after the current command's reply is queued (commands run one at a time). */
  afterReply(fn: () => void): void;
  /** Close the connection right after the reply to the current command. */
  closeAfterReply(info: DisconnectInfo): void;
  /** Flush what is queued, then close with a documented code. Idempotent. */
  close(info: DisconnectInfo, detail?: string): void;
  /**
   * Send this connection one of a feature's own pushes, `{"push":"feature","feature","event","data"}`
   * (`data`: a JSON value, or a `RawJson` holding the value's JSON text), in order with its other frames and never dropped: like a
   * publication it counts in the connection's queue, and a consumer too slow for it is closed
   * (3006). How a feature reaches one connection with what is not a channel's (a document's
   * updates for the SDK that opened it). The SDK hands it to the feature's module (`host.onPush`).
   */
  pushFeature(feature: string, event: string, data: unknown): void;
}
