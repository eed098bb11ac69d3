import { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { ErrorCode } from '@switchboard/protocol';
import type { ConfigInput } from '@switchboard/server';
import WebSocket from 'ws';
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
  // The demo workspace off: these tests use tenant demo as an ordinary tenant with tight caps, where its generator would write.
  const s = await startTestServer({ console: { demo: false }, ...extra, metrics: { series: SERIES, ...metrics }, now: clock.now } as ConfigInput);
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

/** A counter or gauge on /metrics (0 when absent). */
export async function counter(m: MetricsServer, line: string): Promise<number> {
  const text = await (await fetch(`${m.s.httpUrl}/metrics`)).text();
  const escaped = line.replace(/[{}"]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
}

/** What a promise rejected with: a SwitchboardError (anything else, or resolving, fails the test). */
export async function refusal(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof SwitchboardError)) throw new Error(`expected a SwitchboardError, got ${String(err)}`);
  return err;
}

/** SDK clients of one metrics server on its clock (`now`); `connected` waits for the connection. */
export function sdkClients(m: MetricsServer) {
  const made: SwitchboardClient[] = [];
  const client = (caps: Record<string, string[]>, tenant = 'acme', sub = 'ada'): SwitchboardClient => {
    const c = new SwitchboardClient(m.s.url, { getToken: () => m.s.token({ sub, caps, tenant }), WebSocket, now: m.clock.now });
    made.push(c);
    return c;
  };
  const connected = async (caps: Record<string, string[]>, tenant = 'acme'): Promise<SwitchboardClient> => {
    const c = client(caps, tenant);
    const ready = new Promise((r) => c.once('connected', r));
    c.connect();
    await ready;
    return c;
  };
  const close = (): void => {
    for (const c of made) c.disconnect();
  };
  return { client, connected, close };
}

/** Each bad point of the issue, made at the clock's `now`, with the code that refuses its batch (HTTP and socket alike). */
export function badPoints(now: () => number): Array<[string, () => Record<string, unknown>, { code: number }]> {
  return [
    ['a string value', () => ({ series: 'api.latency_ms', value: '5' }), ErrorCode.InvalidMetricValue],
    ['a null value', () => ({ series: 'api.latency_ms', value: null }), ErrorCode.InvalidMetricValue],
    ['a missing value', () => ({ series: 'api.latency_ms' }), ErrorCode.InvalidMetricValue],
    ['a fractional ts', () => ({ series: 'api.latency_ms', ts: now() + 0.5, value: 1 }), ErrorCode.InvalidTimestamp],
    ['a negative ts', () => ({ series: 'api.latency_ms', ts: -1, value: 1 }), ErrorCode.InvalidTimestamp],
    ['a ts beyond 2^53', () => ({ series: 'api.latency_ms', ts: 2 ** 53, value: 1 }), ErrorCode.InvalidTimestamp],
    ['a ts given as a string', () => ({ series: 'api.latency_ms', ts: String(now()), value: 1 }), ErrorCode.InvalidTimestamp],
    ['a ts beyond the skew', () => ({ series: 'api.latency_ms', ts: now() + 5001, value: 1 }), ErrorCode.TimestampTooEarly],
    ['a ts older than the retention', () => ({ series: 'api.latency_ms', ts: now() - 3_600_000, value: 1 }), ErrorCode.TimestampTooLate],
    ['an unknown series', () => ({ series: 'api.latency', value: 1 }), ErrorCode.UnknownSeries],
    ['an undeclared label key', () => ({ series: 'api.latency_ms', labels: { host: 'a' }, value: 1 }), ErrorCode.UnknownLabel],
    ['a label value too long', () => ({ series: 'api.latency_ms', labels: { route: 'x'.repeat(129) }, value: 1 }), ErrorCode.LabelValueTooLong],
  ];
}
