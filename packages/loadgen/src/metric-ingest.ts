/**
 * The HTTP side of the metric scenarios: the series they declare on the started server, the
 * bodies of `POST /api/v1/metrics/points` they send (built cheaply, so the generator costs
 * little next to the server), and the loop that sends them — closed (N requests in flight)
 * or paced (R requests per second) — bounded in time.
 */
import type { BenchContext } from './context.js';
import { BenchFailure } from './failure.js';
import { Histogram } from './histogram.js';
import { nowUs, sleep } from './proc.js';

/** One series of 1 point per batch row … the bench's: every kind is a distribution (all statistics). */
export const INGEST_SERIES = 'bench.ingest';
export const SOCKET_SERIES = 'bench.socket';
export const SPREAD_SERIES = 'bench.spread';
/** The pool the fan-out's subscriptions draw their series from. */
export const FANOUT_POOL = 100;
export const fanoutSeries = (i: number): string => `bench.f${i}`;
/** Label values per key of the spread series: `host` × `route` label sets. */
const SPREAD_KEY_VALUES = 100;

/** `serve` flags declaring the bench series, with caps raised for the load (series, label values, the ingest budget). */
export function metricServerFlags(spreadSeries: number): string[] {
  const series: Record<string, object> = {
    [INGEST_SERIES]: { kind: 'distribution', unit: 'ms' },
    [SOCKET_SERIES]: { kind: 'distribution', unit: 'ms' },
    [SPREAD_SERIES]: { kind: 'distribution', unit: 'ms', labels: ['host', 'route'] },
  };
  for (let i = 0; i < FANOUT_POOL; i++) series[fanoutSeries(i)] = { kind: 'distribution', unit: 'ms' };
  return [
    '--metrics.series',
    JSON.stringify(series),
    '--metrics.max-series',
    String(Math.max(1000, spreadSeries + FANOUT_POOL + 100)),
    '--metrics.max-label-values',
    String(Math.max(100, Math.ceil(spreadSeries / SPREAD_KEY_VALUES))),
    '--metrics.ingest-rate',
    '1000000000',
  ];
}

/** Seeded log-normal-ish values (ms of a latency), as JSON number texts. */
function valueTexts(count: number, seed: number): string[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => {
    const u = Math.max(1e-12, next());
    const v = next();
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return (Math.exp(3 + 0.8 * normal) as number).toFixed(2);
  });
}

/** Columnar batches into one series: `points` values (16 seeded variants, rotated), every `ts` the send time. */
export function columnarBodies(points: number): (k: number) => string {
  const values = Array.from({ length: 16 }, (_, v) => valueTexts(points, 1000 + v).join(','));
  return (k) => {
    const now = Date.now();
    return `{"series":"${INGEST_SERIES}","ts":[${`${now},`.repeat(points - 1)}${now}],"values":[${values[k % values.length]}]}`;
  };
}

/**
 * Row batches of `points` over `labelSets` label sets of the spread series (batch k continues
 * where k−1 stopped). No `ts`: the server stamps each batch with its clock, so a batch held up
 * behind others on a busy machine is never refused as later than the lateness.
 */
export function spreadBodies(points: number, labelSets: number): { body: (k: number) => string; labelSets: number } {
  const prefixes = Array.from({ length: labelSets }, (_, i) => {
    const host = `h${i % SPREAD_KEY_VALUES}`;
    const route = `r${Math.floor(i / SPREAD_KEY_VALUES)}`;
    return `{"series":"${SPREAD_SERIES}","labels":{"host":"${host}","route":"${route}"},"value":`;
  });
  const values = valueTexts(4093, 7);
  return {
    labelSets,
    body: (k) => {
      const parts: string[] = new Array(points);
      for (let j = 0; j < points; j++) {
        const n = k * points + j;
        parts[j] = `${prefixes[n % labelSets]}${values[n % values.length]}}`;
      }
      return `{"points":[${parts.join(',')}]}`;
    },
  };
}

/**
 * Blocks of `perSeries` points into each series of the fan-out pool: seeded values, and as
 * the last point of each block the send time (CLOCK_MONOTONIC ms), so a subscriber's `last`
 * tells it when the newest point it sees was sent. No `ts`: the server stamps them, and of
 * points with the same timestamp the later arrival is `last`.
 */
export function fanoutBodies(perSeries: number): (k: number) => string {
  const values = valueTexts(perSeries * FANOUT_POOL * 4, 11);
  return (k) => {
    const sent = (nowUs() / 1000).toFixed(3);
    const blocks: string[] = new Array(FANOUT_POOL);
    for (let i = 0; i < FANOUT_POOL; i++) {
      const off = ((k * FANOUT_POOL + i) * perSeries) % (values.length - perSeries);
      const head = perSeries > 1 ? `${values.slice(off, off + perSeries - 1).join(',')},` : '';
      blocks[i] = `{"series":"${fanoutSeries(i)}","values":[${head}${sent}]}`;
    }
    return `{"blocks":[${blocks.join(',')}]}`;
  };
}

export interface IngestOutcome {
  requests: number;
  acceptedRequests: number;
  accepted: number;
  refusedRequests: number;
  refusals: Record<string, number>;
  /** Request → answer, µs. */
  latency: Histogram;
  /** Requests not sent on time because `parallel` were in flight (paced only). */
  late: number;
  startUs: number;
  endUs: number;
}

export interface IngestPlan {
  body: (k: number) => string;
  /** Points of every body. */
  points: number;
  parallel: number;
  durationMs: number;
  /** Requests per second; absent: closed loop, `parallel` always in flight. */
  rate?: number;
  /** Stop early (the fan-out's ingest runs until its measurement ends). */
  stop?: () => boolean;
}

/** A live view of an ingest run, for the progress line. */
export class IngestCounter {
  accepted = 0;
}

/** Send the plan's bodies to `POST /api/v1/metrics/points`, round robin over the nodes, with the admin key. */
export async function ingestHttp(ctx: BenchContext, plan: IngestPlan, live = new IngestCounter()): Promise<IngestOutcome> {
  const key = ctx.server.apiKey;
  if (!key) throw new BenchFailure('the metric scenarios need an API key (--api-key) for a server started elsewhere');
  const headers = { authorization: `Bearer ${key}`, 'x-switchboard-tenant': ctx.target.tenant, 'content-type': 'application/json' };
  const urls = ctx.server.nodes.map((n) => `${n.httpUrl}/api/v1/metrics/points`);
  const out: IngestOutcome = {
    requests: 0,
    acceptedRequests: 0,
    accepted: 0,
    refusedRequests: 0,
    refusals: {},
    latency: new Histogram(),
    late: 0,
    startUs: nowUs(),
    endUs: 0,
  };
  const endUs = Math.min(out.startUs + plan.durationMs * 1000, ctx.deadlineUs - 5e6);
  const running = () => nowUs() < endUs && !plan.stop?.();
  let k = 0;
  const send = async (): Promise<void> => {
    const n = k++;
    const body = plan.body(n);
    out.requests++;
    const t0 = nowUs();
    try {
      const res = await fetch(urls[n % urls.length] as string, { method: 'POST', headers, body });
      const text = await res.text();
      out.latency.record(nowUs() - t0);
      if (res.status === 200) {
        out.acceptedRequests++;
        const accepted = (JSON.parse(text) as { accepted: number }).accepted;
        out.accepted += accepted;
        live.accepted += accepted;
      } else {
        out.refusedRequests++;
        let code = String(res.status);
        try {
          code = `${res.status}/${(JSON.parse(text) as { code?: number }).code ?? '?'}`;
        } catch {
          // not JSON
        }
        out.refusals[code] = (out.refusals[code] ?? 0) + 1;
      }
    } catch (err) {
      out.refusedRequests++;
      const code = (err as Error).message.slice(0, 40);
      out.refusals[code] = (out.refusals[code] ?? 0) + 1;
    }
  };
  if (plan.rate === undefined) {
    const lane = async (): Promise<void> => {
      while (running()) await send();
    };
    await Promise.all(Array.from({ length: plan.parallel }, lane));
  } else {
    const inflight = new Set<Promise<void>>();
    const intervalUs = 1e6 / plan.rate;
    for (let n = 0; running(); n++) {
      const at = out.startUs + n * intervalUs;
      if (at > nowUs()) await sleep((at - nowUs()) / 1000);
      if (inflight.size >= plan.parallel) {
        out.late++;
        await Promise.race(inflight);
      }
      const p = send().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
  }
  out.endUs = nowUs();
  return out;
}
