import { request } from 'node:http';
import type { SwitchboardClient } from '@switchboard/client';
import { eventually } from '../../../test/helpers/eventually.js';
import { type Harness, type HarnessOptions, harness } from './harness.js';

/** The series the metric tests read, and a token that may read it. */
export const SERIES = 'api.latency_ms';
export const METRIC_CAPS = { 'metrics:*': ['subscribe'] };

/** A server with one distribution series; a connection may hold one metric subscription, so a leaked one is refused (106). */
export const METRIC_SERVER = { metrics: { series: { [SERIES]: { kind: 'distribution', unit: 'ms' } }, maxSubscriptions: 1 } } as HarnessOptions;

/** A harness of `METRIC_SERVER` (for a whole file; tests take theirs from `perTest().harness(METRIC_SERVER)`). */
export const metricServer = (): Promise<Harness> => harness(METRIC_SERVER);

export function metricClient(t: Harness, sub = 'ada', caps: Record<string, string[]> = METRIC_CAPS): SwitchboardClient {
  const client = t.client(sub, {}, { caps });
  client.connect();
  return client;
}

/** A GET or POST over node:http (the DOM environment's fetch applies browser CORS rules). */
function http(url: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Points of the series now (the server's clock is the real one), over HTTP as tenant acme. */
export async function ingest(t: Harness, values: number[]): Promise<void> {
  const now = Date.now();
  const body = JSON.stringify({ series: SERIES, ts: values.map(() => now), values });
  const res = await http(
    `${t.server.httpUrl}/api/v1/metrics/points`,
    { authorization: `Bearer ${t.server.tenantKeys['acme']}`, 'content-type': 'application/json' },
    body,
  );
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${res.text}`);
}

/** How many `method` commands the server answered (its command-latency histogram counts them). */
export async function commandsServed(t: Harness, method: string): Promise<number> {
  const { text } = await http(`${t.server.httpUrl}/metrics`);
  const line = new RegExp(`^switchboard_command_duration_seconds_count\\{method="${method.replace('.', '\\.')}"\\} (\\d+)`, 'm').exec(text);
  return Number(line?.[1] ?? 0);
}

/** Metric subscriptions the server holds for this test's connections: subscribes answered minus unsubscribes. */
export async function openOnServer(t: Harness): Promise<number> {
  return (await commandsServed(t, 'metrics.subscribe')) - (await commandsServed(t, 'metrics.unsubscribe'));
}

/** Wait until the server holds `n` metric subscriptions. */
export function untilOpen(t: Harness, n: number): Promise<void> {
  return eventually(async () => (await openOnServer(t)) === n, 8000, `${n} metric subscriptions on the server`);
}
