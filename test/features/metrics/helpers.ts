import type { ConfigInput } from '@switchboard/server';
import { ManualClock } from '../../helpers/manual-clock.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

/** A whole minute, so 1 s, 10 s and 1 min buckets all start at T0. */
export const T0 = 1_700_000_040_000;

export const SERIES = {
  'api.latency_ms': { kind: 'distribution', unit: 'ms', labels: ['route', 'platform'] },
  'jobs.done': { kind: 'counter', labels: ['queue'] },
  'queue.depth': { kind: 'gauge' },
} as const;

export interface MetricsServer {
  s: TestServer;
  clock: ManualClock;
  /** POST /api/v1/metrics/points as a tenant's key (or the admin key naming `asTenant`). */
  ingest(body: unknown, tenant?: string, asAdmin?: boolean): Promise<{ status: number; json: Answer }>;
  /** GET /api/v1/metrics/query with the given parameters. */
  query(params: Record<string, string | number | object>, tenant?: string, asAdmin?: boolean): Promise<{ status: number; json: Answer }>;
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in the tests
export type Answer = any;

export async function startMetricsServer(metrics: Record<string, unknown> = {}, extra: ConfigInput = {}): Promise<MetricsServer> {
  const clock = new ManualClock(T0);
  const s = await startTestServer({ ...extra, metrics: { series: SERIES, ...metrics }, now: clock.now } as ConfigInput);
  const headers = (tenant: string, asAdmin: boolean): Record<string, string> =>
    asAdmin ? { authorization: `Bearer ${s.apiKey}`, 'x-switchboard-tenant': tenant } : { authorization: `Bearer ${s.tenantKeys[tenant]}` };
  return {
    s,
    clock,
    async ingest(body, tenant = 'acme', asAdmin = false) {
      const res = await fetch(`${s.httpUrl}/api/v1/metrics/points`, {
        method: 'POST',
        headers: { ...headers(tenant, asAdmin), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    },
    async query(params, tenant = 'acme', asAdmin = false) {
      const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]));
      const res = await fetch(`${s.httpUrl}/api/v1/metrics/query?${q}`, { headers: headers(tenant, asAdmin) });
      return { status: res.status, json: await res.json() };
    },
  };
}

/** Points a label set holds over the whole 1 s retention. */
export async function pointsHeld(m: MetricsServer, series: string, labels: Record<string, string>, tenant = 'acme'): Promise<number> {
  const { status, json } = await m.query({ series, labels, resolution: '1m', stats: 'count' }, tenant);
  if (status !== 200) throw new Error(`query answered ${status}: ${JSON.stringify(json)}`);
  return (json.count as number[]).reduce((a, b) => a + b, 0);
}
