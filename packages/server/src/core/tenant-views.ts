import { ErrorCode, type PresenceStatus } from '@switchboard/protocol';
import type { Engine } from '../engine/engine.js';
import { ReplyError } from '../errors/reply-error.js';
import type { ErrorFigures, ErrorQuery } from '../observability/error-log.js';
import type { TenantFigures } from '../observability/self-figures.js';
import type { NodeStats } from '../observability/stats.js';
import type { TenantQuotas } from './tenant-quotas.js';

/** Messages a tenant's connections sent and received on this node, counted as they pass. */
export interface TrafficCounter {
  in: number;
  out: number;
  /** Bytes of the messages counted in `in` and `out`. */
  bytesIn: number;
  bytesOut: number;
  /** Reply errors its connections got. */
  errors: number;
}

/** Per-second rates are averaged over this many one-second samples. */
const WINDOW = 5;

interface Traffic extends TrafficCounter {
  /** Connections holding this counter. */
  refs: number;
  /** [in, out] at each of the last WINDOW + 1 samples, oldest first. */
  samples: Array<[number, number]>;
}

/** One connection of a user, as `GET /users/{user}/presence` shows it. */
export interface UserDevice {
  client: string;
  status: PresenceStatus;
  connectedAt: number;
  /** Node the connection is on. */
  node: string;
  /** Channels this connection is present in (`presence_set`), sorted. */
  channels: string[];
}

export interface UserPresence {
  user: string;
  /** True while the user has at least one connection. */
  online: boolean;
  /** The most active status over the user's connections (online > away > idle); null when offline. */
  status: PresenceStatus | null;
  /** Channels the user is present in on any connection, sorted. */
  channels: string[];
  devices: UserDevice[];
  /** False when a live node did not answer in time: its connections are missing. */
  complete: boolean;
}

export interface TenantStats {
  connections: number;
  usersOnline: number;
  channels: number;
  subscriptions: number;
  /** Messages received from the tenant's connections per second, over every node (5 s average). */
  messagesInPerSecond: number;
  /** Messages sent to the tenant's connections per second, over every node (5 s average). */
  messagesOutPerSecond: number;
  nodes: number;
  complete: boolean;
  /** Usage against each quota of the tenant (limit null: none); `used` null where it is not one number. */
  quotas: Record<'connections' | 'publishesPerMinute' | 'presenceMembers' | 'notifications' | 'activity', QuotaUsage>;
}

export interface QuotaUsage {
  used: number | null;
  limit: number | null;
}

/** What the views read of a local connection. */
interface ViewedSession {
  readonly id: string;
  readonly status: PresenceStatus;
  readonly connectedAt: number;
  subscriptions(): Iterable<{ readonly present: boolean; readonly ch: { readonly channel: string } }>;
}

/** What the views need of the node: its id, its connections and the local connections of a user. */
export interface ViewsHost {
  readonly id: string;
  readonly engine: Engine;
  readonly quotas: Pick<TenantQuotas, 'limit' | 'rowsUsed' | 'publishesLastMinute'>;
  userClients(tenant: string, user: string): ReadonlySet<ViewedSession>;
  /** Every open kernel connection of this node. */
  readonly clients: ReadonlySet<ListedSession>;
  /** Its counters: the error log answers the `error-log` survey, the channel rates the `channel-rates` one. */
  readonly stats: Pick<NodeStats, 'errorLog' | 'channelRates'>;
  readonly now: () => number;
}

/** What the connection list reads of a local connection. */
export interface ListedSession extends ViewedSession {
  readonly closed: boolean;
  readonly wasConnected: boolean;
  readonly identity: { readonly tenant: string; readonly user: string } | null;
  readonly meta: { readonly ip: string; readonly origin?: string };
  readonly subscriptionCount: number;
}

const RANK: Record<PresenceStatus, number> = { online: 3, away: 2, idle: 1 };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * A tenant's live picture over every node: where a user is present, and the tenant's
 * numbers. Each node answers surveys (on the engine's control bus) from its own
 * connections; connections and users online come from the shared connection counters.
 */
export class TenantViews {
  readonly #traffic = new Map<string, Traffic>();
  #sampler: NodeJS.Timeout | null = null;

  constructor(private readonly host: ViewsHost) {
    host.engine.control.setSurveyHandler('user-presence', (request) => {
      if (!isObject(request) || typeof request['tenant'] !== 'string' || typeof request['user'] !== 'string') return undefined;
      return this.#localDevices(request['tenant'], request['user']);
    });
    host.engine.control.setSurveyHandler('tenant-rates', (request) => {
      if (!isObject(request) || typeof request['tenant'] !== 'string') return undefined;
      return this.#rates(request['tenant']);
    });
    host.engine.control.setSurveyHandler('channel-rates', (request) => {
      if (!isObject(request) || typeof request['tenant'] !== 'string' || typeof request['prefix'] !== 'string') return undefined;
      return host.stats.channelRates.of(request['tenant'], request['prefix'], host.now());
    });
    host.engine.control.setSurveyHandler('error-log', (request) => {
      const query = errorQueryOf(request);
      return query ? { since: host.stats.errorLog.since, errors: host.stats.errorLog.figures(query, host.id) } : undefined;
    });
    host.engine.control.setSurveyHandler('connection-list', (request) => {
      const filter = connectionFilterOf(request);
      return filter ? listConnections(host, filter) : undefined;
    });
  }

  start(): void {
    this.#sampler = setInterval(() => this.#sample(), 1000);
    this.#sampler.unref();
  }

  stop(): void {
    if (this.#sampler) clearInterval(this.#sampler);
    this.#sampler = null;
  }

  /** The tenant's traffic counter for a connection that connected; `release` it when it closes. */
  trafficOf(tenant: string): TrafficCounter {
    let t = this.#traffic.get(tenant);
    if (!t) {
      t = { in: 0, out: 0, bytesIn: 0, bytesOut: 0, errors: 0, refs: 0, samples: [[0, 0]] };
      this.#traffic.set(tenant, t);
    }
    t.refs++;
    return t;
  }

  /** Each tenant with connections or recent traffic on this node: connections and cumulative counts (reset when a tenant is forgotten). */
  *figures(): Iterable<[string, TenantFigures]> {
    for (const [tenant, t] of this.#traffic)
      yield [tenant, { connections: Math.max(0, t.refs), messagesIn: t.in, messagesOut: t.out, bytesIn: t.bytesIn, bytesOut: t.bytesOut, errors: t.errors }];
  }

  release(tenant: string): void {
    const t = this.#traffic.get(tenant);
    if (t) t.refs--;
  }

  async userPresence(tenant: string, user: string): Promise<UserPresence> {
    const result = await this.#ask('user-presence', { tenant, user });
    const devices = result.answers.flatMap((a) => (Array.isArray(a) ? (a as UserDevice[]) : []));
    devices.sort((a, b) => a.connectedAt - b.connectedAt || (a.client < b.client ? -1 : 1));
    let status: PresenceStatus | null = null;
    for (const d of devices) if (status === null || RANK[d.status] > RANK[status]) status = d.status;
    const channels = [...new Set(devices.flatMap((d) => d.channels))].sort();
    return { user, online: devices.length > 0, status, channels, devices, complete: result.complete };
  }

  async stats(tenant: string): Promise<TenantStats> {
    const { control, limits } = this.host.engine;
    try {
      const { quotas } = this.host;
      const [usage, list, rates, notifications, activity] = await Promise.all([
        limits.tenantUsage(tenant),
        control.channels(tenant, ''),
        this.#ask('tenant-rates', { tenant }),
        quotas.rowsUsed(tenant, 'notifications'),
        quotas.rowsUsed(tenant, 'activity'),
      ]);
      let messagesInPerSecond = 0;
      let messagesOutPerSecond = 0;
      let publishes = 0;
      for (const r of rates.answers) {
        if (!isObject(r)) continue;
        messagesInPerSecond += Number(r['in']) || 0;
        messagesOutPerSecond += Number(r['out']) || 0;
        publishes += Number(r['publishes']) || 0;
      }
      return {
        connections: usage.connections,
        usersOnline: usage.users,
        channels: list.channels.length,
        subscriptions: list.channels.reduce((n, c) => n + c.subscribers, 0),
        messagesInPerSecond: round(messagesInPerSecond),
        messagesOutPerSecond: round(messagesOutPerSecond),
        nodes: Math.max(list.nodes, rates.nodes),
        complete: list.complete && rates.complete,
        quotas: {
          connections: { used: usage.connections, limit: quotas.limit(tenant, 'connections') },
          publishesPerMinute: { used: publishes, limit: quotas.limit(tenant, 'publishesPerMinute') },
          presenceMembers: { used: null, limit: quotas.limit(tenant, 'presenceMembers') },
          notifications: { used: notifications, limit: quotas.limit(tenant, 'notifications') },
          activity: { used: activity, limit: quotas.limit(tenant, 'activity') },
        },
      };
    } catch (err) {
      throw err instanceof ReplyError ? err : new ReplyError(ErrorCode.Unavailable, 'stats');
    }
  }

  /**
   * Connections over every node that match a filter (tenant exact, user and IP by substring,
   * case-insensitive), oldest first, at most `limit`, with how many matched and how many
   * subscriptions they hold. A connection counts once it completed `connect`.
   */
  async connections(filter: ConnectionFilter): Promise<ConnectionList> {
    const result = await this.#ask('connection-list', filter);
    const connections: ListedConnection[] = [];
    let total = 0;
    let subscriptions = 0;
    for (const a of result.answers) {
      if (!isObject(a) || !Array.isArray(a['connections'])) continue;
      connections.push(...(a['connections'] as ListedConnection[]));
      total += Number(a['total']) || 0;
      subscriptions += Number(a['subscriptions']) || 0;
    }
    connections.sort((x, y) => x.connectedAt - y.connectedAt || (x.client < y.client ? -1 : 1));
    return { connections: connections.slice(0, filter.limit), total, subscriptions, nodes: result.nodes, complete: result.complete };
  }

  /**
   * The typed errors answered over every node, by code (counts summed, the latest examples
   * of all nodes), the most recent first; a tenant's only, or every tenant's (tenant null).
   */
  async errors(query: ErrorQuery): Promise<ErrorList> {
    const result = await this.#ask('error-log', query);
    const byCode = new Map<number, ErrorFigures>();
    let since = Number.POSITIVE_INFINITY;
    for (const a of result.answers) {
      if (!isObject(a) || !Array.isArray(a['errors'])) continue;
      since = Math.min(since, Number(a['since']) || since);
      for (const f of a['errors'] as ErrorFigures[]) {
        const merged = byCode.get(f.code);
        if (!merged) byCode.set(f.code, { ...f, examples: [...f.examples] });
        else {
          merged.count += f.count;
          merged.recent += f.recent;
          merged.lastAt = Math.max(merged.lastAt, f.lastAt);
          merged.examples.push(...f.examples);
        }
      }
    }
    const errors = [...byCode.values()].sort((x, y) => y.recent - x.recent || y.count - x.count || x.code - y.code);
    for (const f of errors) f.examples = f.examples.sort((x, y) => y.time - x.time).slice(0, query.examples);
    return { errors, since: Number.isFinite(since) ? since : this.host.stats.errorLog.since, nodes: result.nodes, complete: result.complete };
  }

  /** Publications per second of a tenant's channels (over the last 10 s), summed over every node that answered; only channels with some. */
  async channelRates(tenant: string, prefix: string): Promise<{ rates: Map<string, number>; nodes: number; complete: boolean }> {
    const result = await this.#ask('channel-rates', { tenant, prefix });
    const rates = new Map<string, number>();
    for (const answer of result.answers) {
      if (!Array.isArray(answer)) continue;
      for (const pair of answer) {
        if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'number') continue;
        rates.set(pair[0], (rates.get(pair[0]) ?? 0) + pair[1]);
      }
    }
    return { rates, nodes: result.nodes, complete: result.complete };
  }

  async #ask(kind: string, request: unknown) {
    try {
      return await this.host.engine.control.survey(kind, request);
    } catch {
      throw new ReplyError(ErrorCode.Unavailable, kind);
    }
  }

  #localDevices(tenant: string, user: string): UserDevice[] {
    return [...this.host.userClients(tenant, user)].map((c) => ({
      client: c.id,
      status: c.status,
      connectedAt: c.connectedAt,
      node: this.host.id,
      channels: [...c.subscriptions()]
        .filter((s) => s.present)
        .map((s) => s.ch.channel)
        .sort(),
    }));
  }

  /** This node's messages per second for a tenant, over the last samples, and its publishes of the last minute. */
  #rates(tenant: string): { in: number; out: number; publishes: number } {
    const publishes = this.host.quotas.publishesLastMinute(tenant);
    const t = this.#traffic.get(tenant);
    if (!t || t.samples.length < 2) return { in: 0, out: 0, publishes };
    const first = t.samples[0] as [number, number];
    const last = t.samples[t.samples.length - 1] as [number, number];
    const seconds = t.samples.length - 1;
    return { in: (last[0] - first[0]) / seconds, out: (last[1] - first[1]) / seconds, publishes };
  }

  #sample(): void {
    for (const [tenant, t] of this.#traffic) {
      t.samples.push([t.in, t.out]);
      if (t.samples.length > WINDOW + 1) t.samples.shift();
      const first = t.samples[0] as [number, number];
      // A tenant with no connection here and no traffic over the window is forgotten.
      if (t.refs <= 0 && first[0] === t.in && first[1] === t.out && t.samples.length > WINDOW) this.#traffic.delete(tenant);
    }
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** Which connections `connections()` lists: `tenant` exact (null: every tenant), `user` and `ip` by substring. */
export interface ConnectionFilter {
  tenant: string | null;
  user?: string;
  ip?: string;
  /** Most connections listed (all are counted). */
  limit: number;
}

/** One connection as the console lists it. */
export interface ListedConnection {
  client: string;
  tenant: string;
  user: string;
  ip: string;
  origin: string | null;
  node: string;
  /** Unix ms. */
  connectedAt: number;
  status: PresenceStatus;
  subscriptions: number;
}

export interface ConnectionList {
  connections: ListedConnection[];
  /** Connections that matched, over every node (more than listed when over the limit). */
  total: number;
  /** Subscriptions held by the matching connections. */
  subscriptions: number;
  nodes: number;
  complete: boolean;
}

const optionalText = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

export interface ErrorList {
  errors: ErrorFigures[];
  /** When the oldest answering node started counting (Unix ms). */
  since: number;
  nodes: number;
  complete: boolean;
}

function errorQueryOf(request: unknown): ErrorQuery | null {
  if (!isObject(request)) return null;
  const { tenant, minutes, examples } = request;
  if (!(tenant === null || typeof tenant === 'string') || typeof minutes !== 'number' || typeof examples !== 'number') return null;
  return { tenant, minutes, examples };
}

/** A survey's request as a filter, or null when it is not one (another node's newer shape). */
function connectionFilterOf(request: unknown): ConnectionFilter | null {
  if (!isObject(request)) return null;
  const { tenant, user, ip, limit } = request;
  if (!(tenant === null || typeof tenant === 'string') || !optionalText(user) || !optionalText(ip) || typeof limit !== 'number') return null;
  return { tenant, limit, ...(user ? { user } : {}), ...(ip ? { ip } : {}) };
}

/** This node's answer: the first `limit` matches (oldest first), how many matched and their subscriptions. */
function listConnections(host: ViewsHost, filter: ConnectionFilter): { connections: ListedConnection[]; total: number; subscriptions: number } {
  const user = filter.user?.toLowerCase();
  const ip = filter.ip?.toLowerCase();
  const matched: ListedConnection[] = [];
  let subscriptions = 0;
  for (const c of host.clients) {
    const id = c.identity;
    if (c.closed || !c.wasConnected || id === null) continue;
    if (filter.tenant !== null && id.tenant !== filter.tenant) continue;
    if (user !== undefined && !id.user.toLowerCase().includes(user)) continue;
    if (ip !== undefined && !c.meta.ip.toLowerCase().includes(ip)) continue;
    subscriptions += c.subscriptionCount;
    matched.push({
      client: c.id,
      tenant: id.tenant,
      user: id.user,
      ip: c.meta.ip,
      origin: c.meta.origin ?? null,
      node: host.id,
      connectedAt: c.connectedAt,
      status: c.status,
      subscriptions: c.subscriptionCount,
    });
  }
  matched.sort((x, y) => x.connectedAt - y.connectedAt || (x.client < y.client ? -1 : 1));
  return { connections: matched.slice(0, filter.limit), total: matched.length, subscriptions };
}
