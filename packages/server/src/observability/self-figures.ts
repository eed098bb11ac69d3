import type { NodeStats } from './stats.js';

/** One tenant's figures on this node: its open connections and what they sent, received and were refused (cumulative). */
export interface TenantFigures {
  readonly connections: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly errors: number;
}

/**
 * The tenant of the web console's own connection (`POST /api/v1/console/token`): its traffic
 * (the console's metric frames) is left out of the node-level message and byte series of the
 * system scope, so an idle server charts zero messages with the console open; it is still
 * counted in `/metrics` and under its own tenant.
 */
export const CONSOLE_TENANT = '_console';

/** Hears one latency observation: what was timed (a command's method, an HTTP route) and how long it took, seconds. */
export type LatencyObserver = (what: string, seconds: number) => void;

/**
 * The node's own figures, read where `/metrics` reads them: the NodeStats counters the
 * Prometheus registry mirrors, the same connection and subscription gauges, the tenants'
 * traffic counters (what `GET /stats` reads), and the latency observations of the
 * `switchboard_command_duration_seconds` and `switchboard_http_request_duration_seconds`
 * histograms, heard at the call site that observes them. Read-only: a reader (the metrics
 * feature's system scope) turns them into series; it never counts anything itself.
 */
export interface SelfFigures {
  /** The node's counters, cumulative since start (read, never written). */
  readonly stats: NodeStats;
  /** Open connections (the `switchboard_connections` gauge). */
  connections(): number;
  /** Channel subscriptions of open connections (the `switchboard_subscriptions` gauge). */
  subscriptions(): number;
  /** Each tenant with connections or recent traffic on this node, and its figures. */
  tenants(): Iterable<[string, TenantFigures]>;
  /** Hear every command's latency as the histogram observes it (method, seconds); returns the removal. */
  onCommand(observer: LatencyObserver): () => void;
  /** Hear every HTTP request's latency as the histogram observes it (route pattern, seconds); returns the removal. */
  onHttp(observer: LatencyObserver): () => void;
}

/** The observers of one kind of latency: called in the same turn as the histogram, in order. */
export class LatencyObservers {
  #list: LatencyObserver[] = [];

  get size(): number {
    return this.#list.length;
  }

  add(observer: LatencyObserver): () => void {
    this.#list = [...this.#list, observer];
    return () => {
      this.#list = this.#list.filter((o) => o !== observer);
    };
  }

  observe(what: string, seconds: number): void {
    const list = this.#list;
    for (let i = 0; i < list.length; i++) (list[i] as LatencyObserver)(what, seconds);
  }
}
