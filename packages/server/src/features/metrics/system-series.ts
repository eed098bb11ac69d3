/**
 * The system scope: the server's own figures as series (docs/metrics.md "The server's own
 * figures"). Its buckets live in the stores under this tenant key, which no tenant can have
 * (a tenant id is A-Z a-z 0-9 _ -), so no tenant key, token or `X-Switchboard-Tenant` header
 * can name it: only the routes' `scope=system` (admin key) and a system grant reach it.
 */
export const SYSTEM_SCOPE = '*system';

/** Series names with this prefix are the server's own: neither the configuration nor a tenant may declare one. */
export const SYSTEM_PREFIX = 'sb.';

/** A system series' declaration: what a declared series holds (config.ts `SeriesDeclaration`), with the default retention and no persistence. */
export interface SystemDeclaration {
  kind: 'gauge' | 'counter' | 'distribution';
  unit: string;
  labels: string[];
  retention: { '1s'?: number; '10s'?: number; '1m'?: number };
  persist: boolean;
}

const declare = (kind: SystemDeclaration['kind'], unit: string, labels: string[]): SystemDeclaration => ({ kind, unit, labels, retention: {}, persist: false });

/** Every system series, fixed by the server: kind, unit and label keys. `node` is the node's id; `tenant` a tenant id. */
export const SYSTEM_SERIES: Readonly<Record<string, SystemDeclaration>> = Object.freeze({
  'sb.connections': declare('gauge', 'connections', ['node']),
  'sb.subscriptions': declare('gauge', 'subscriptions', ['node']),
  'sb.messages_in': declare('counter', 'messages', ['node']),
  'sb.messages_out': declare('counter', 'messages', ['node']),
  'sb.bytes_in': declare('counter', 'bytes', ['node']),
  'sb.bytes_out': declare('counter', 'bytes', ['node']),
  'sb.publications': declare('counter', 'publications', ['node']),
  'sb.errors': declare('counter', 'errors', ['node', 'code']),
  'sb.drops': declare('counter', 'drops', ['node', 'reason']),
  'sb.command_ms': declare('distribution', 'ms', ['node', 'method']),
  'sb.http_ms': declare('distribution', 'ms', ['node', 'route']),
  'sb.event_loop_lag_ms': declare('gauge', 'ms', ['node']),
  'sb.heap_bytes': declare('gauge', 'bytes', ['node']),
  'sb.rss_bytes': declare('gauge', 'bytes', ['node']),
  'sb.cpu_percent': declare('gauge', 'percent', ['node']),
  'sb.ingest_points': declare('counter', 'points', ['node', 'transport']),
  'sb.tenant.connections': declare('gauge', 'connections', ['node', 'tenant']),
  'sb.tenant.messages_in': declare('counter', 'messages', ['node', 'tenant']),
  'sb.tenant.messages_out': declare('counter', 'messages', ['node', 'tenant']),
  'sb.tenant.errors': declare('counter', 'errors', ['node', 'tenant']),
});

export const isSystemSeries = (name: string): boolean => Object.hasOwn(SYSTEM_SERIES, name);

/** Tenants metered per node and second, at most: those with the most connections (then by name). */
export const MAX_METERED_TENANTS = 100;

/**
 * Label sets the system scope holds on one node, at most (its own; other nodes' parts are held
 * to `metrics.maxSeries` per node as any tenant's): the node-level series with their error codes,
 * drop reasons, methods and routes, and 4 per metered tenant. A new label set beyond it is not
 * written (and logged once).
 */
export const MAX_SYSTEM_STORES = 1000;
