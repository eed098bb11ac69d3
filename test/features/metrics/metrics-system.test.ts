import { Writable } from 'node:stream';
import { SwitchboardError } from '@switchboard/client';
import { ErrorCode } from '@switchboard/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DurableServer, startDurableServer } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { RawClient } from '../../helpers/raw-client.js';
import { connectedClient } from '../../helpers/sdk-client.js';
import { alertActivities, as, evaluate, health, performanceNotes, T0 } from './alerts-helpers.js';

/**
 * The server's own figures in the system scope, on one real server: they move under a bounded
 * load by exactly what the `/metrics` counters moved, only an admin key reads them, a tenant
 * never sees another tenant's figures, and an admin follows them live with a grant. The meter
 * samples only when the test asks (`systemInterval: 0`), so each sample's window is known.
 */

const NODE = 'self-a';
const CANARY = 'canaryb7x';
// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
type Answer = any;

describe("the server's own figures (system scope)", () => {
  let s: DurableServer;
  const logs: string[] = [];
  const cleanup: Array<() => void> = [];
  const sample = () => s.server.feature<{ meter: { sample(): number } }>('metrics').meter.sample();
  const admin = () => ({ key: s.apiKey });

  /** Σ of one statistic over every 1 min bucket of a system label set (0 when none). */
  async function total(series: string, labels: Record<string, string>, stat = 'sum'): Promise<number> {
    const q = new URLSearchParams({ scope: 'system', series, labels: JSON.stringify(labels), resolution: '1m', stats: stat });
    const res = await s.api('GET', `/metrics/query?${q}`, admin());
    expect(res.status, res.text).toBe(200);
    const column = stat === 'count' ? (res.body['count'] as number[]) : ((res.body['stats'] as Record<string, Array<number | null>>)[stat] ?? []);
    return column.reduce<number>((a, b) => a + (b ?? 0), 0);
  }

  /** The latest value of a gauge (its `last` in the newest 1 s bucket with points). */
  async function latest(series: string, labels: Record<string, string>): Promise<number | null> {
    const q = new URLSearchParams({ scope: 'system', series, labels: JSON.stringify(labels), stats: 'last' });
    const res = await s.api('GET', `/metrics/query?${q}`, admin());
    expect(res.status, res.text).toBe(200);
    const last = ((res.body['stats'] as Record<string, Array<number | null>>)['last'] ?? []).filter((v) => v !== null);
    return last.length > 0 ? (last[last.length - 1] as number) : null;
  }

  async function prom(): Promise<string> {
    return (await fetch(`${s.httpUrl}/metrics`)).text();
  }
  const promValue = (text: string, line: string): number => {
    const escaped = line.replace(/[{}"]/g, (c) => `\\${c}`);
    return Number(new RegExp(`^${escaped} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    });
    s = await startDurableServer('sqlite', { nodeId: NODE, metrics: { systemInterval: 0 }, logger: pino({ level: 'trace' }, sink) });
  }, 30_000);

  afterAll(async () => {
    for (const c of cleanup) c();
    await s?.stop();
  });

  it('moves under a bounded load by exactly what the /metrics counters moved', async () => {
    const raw = await RawClient.connect(s.url, await s.token({ sub: 'ada', tenant: 'acme' }));
    cleanup.push(() => raw.close());
    sample();
    const [inBefore, outBefore, pubBefore] = [
      await total('sb.messages_in', { node: NODE }),
      await total('sb.messages_out', { node: NODE }),
      await total('sb.publications', { node: NODE }),
    ];
    const bytesBefore = await total('sb.bytes_in', { node: NODE });
    const errBefore = await total('sb.errors', { node: NODE, code: String(ErrorCode.UnknownChannel.code) });
    const latBefore = await total('sb.command_ms', { node: NODE, method: 'publish' }, 'count');
    const tenantInBefore = await total('sb.tenant.messages_in', { node: NODE, tenant: 'acme' });
    const tenantErrBefore = await total('sb.tenant.errors', { node: NODE, tenant: 'acme' });
    const a = await prom();

    // A bounded load: 40 publications and 5 refused subscriptions, each answered before the next.
    for (let i = 0; i < 40; i++) expect((await raw.call('publish', { channel: 'project:1', data: { i } })).error).toBeUndefined();
    for (let i = 0; i < 5; i++) expect((await raw.call('subscribe', { channel: `nowhere:${i}` })).error?.code).toBe(ErrorCode.UnknownChannel.code);

    const b = await prom();
    sample();
    const delta = (line: string) => promValue(b, line) - promValue(a, line);
    expect(delta('switchboard_publications_total')).toBe(40);
    expect((await total('sb.messages_in', { node: NODE })) - inBefore).toBe(delta('switchboard_messages_in_total'));
    expect((await total('sb.messages_out', { node: NODE })) - outBefore).toBe(delta('switchboard_messages_out_total'));
    expect((await total('sb.bytes_in', { node: NODE })) - bytesBefore).toBe(delta('switchboard_bytes_in_total'));
    expect((await total('sb.publications', { node: NODE })) - pubBefore).toBe(40);
    const code = ErrorCode.UnknownChannel.code;
    expect((await total('sb.errors', { node: NODE, code: String(code) })) - errBefore).toBe(delta(`switchboard_errors_total{code="${code}"}`));
    expect(delta(`switchboard_errors_total{code="${code}"}`)).toBe(5);
    // The publish latencies: as many observations as the histogram took, in the same call.
    const observed = delta('switchboard_command_duration_seconds_count{method="publish"}');
    expect(observed).toBe(40);
    expect((await total('sb.command_ms', { node: NODE, method: 'publish' }, 'count')) - latBefore).toBe(observed);
    // Per tenant: its connection's 45 commands and 5 errors.
    expect((await total('sb.tenant.messages_in', { node: NODE, tenant: 'acme' })) - tenantInBefore).toBe(45);
    expect((await total('sb.tenant.errors', { node: NODE, tenant: 'acme' })) - tenantErrBefore).toBe(5);
    expect(await latest('sb.tenant.connections', { node: NODE, tenant: 'acme' })).toBe(1);
    expect(await latest('sb.connections', { node: NODE })).toBe(promValue(b, 'switchboard_connections'));
    expect(await latest('sb.heap_bytes', { node: NODE })).toBeGreaterThan(0);
    expect(await latest('sb.rss_bytes', { node: NODE })).toBeGreaterThan(0);
  });

  it('answers only an admin key: no key 401, a tenant key 403, a tenant header 400; no key in the logs', async () => {
    const query = `/metrics/query?scope=system&series=sb.connections&labels=${encodeURIComponent(JSON.stringify({ node: NODE }))}`;
    for (const path of [query, '/metrics/series?scope=system']) {
      expect((await s.api('GET', path, { key: null })).status).toBe(401);
      const asTenant = await s.api('GET', path);
      expect(asTenant.status, asTenant.text).toBe(403);
      expect((asTenant.body['error'] as Answer).code).toBe(ErrorCode.PermissionDenied.code);
      expect((await s.api('GET', path, { key: s.apiKey, tenant: 'acme' })).status).toBe(400);
      expect((await s.api('GET', path, admin())).status).toBe(200);
    }
    expect((await s.api('POST', '/metrics/system/grants', { key: null })).status).toBe(401);
    expect((await s.api('POST', '/metrics/system/grants')).status).toBe(403);
    const granted = await s.api('POST', '/metrics/system/grants', admin());
    expect(granted.status, granted.text).toBe(200);
    const listed = await s.api('GET', '/metrics/series?scope=system', admin());
    const names = (listed.body['series'] as Answer[]).map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['sb.connections', 'sb.command_ms', 'sb.tenant.errors', 'sb.event_loop_lag_ms']));
    const joined = logs.join('');
    expect(joined.length).toBeGreaterThan(0);
    for (const secret of [s.apiKey, s.tenantKeys['acme'] as string, granted.body['grant'] as string]) expect(joined.includes(secret)).toBe(false);
  });

  it("never shows a tenant the system scope or another tenant's figures (canary)", async () => {
    const canary = await RawClient.connect(s.url, await s.token({ sub: 'bo', tenant: CANARY }));
    cleanup.push(() => canary.close());
    expect((await canary.call('publish', { channel: 'project:9', data: { planted: CANARY } })).error).toBeUndefined();
    sample();
    // The admin sees the canary tenant's figures: the search below can find it.
    const seen = await s.api('GET', '/metrics/series?scope=system', admin());
    expect(seen.text).toContain(CANARY);

    const answers: string[] = [];
    const read = async (path: string) => {
      const res = await s.api('GET', path);
      answers.push(res.text);
      return res;
    };
    const labels = encodeURIComponent(JSON.stringify({ node: NODE, tenant: CANARY }));
    expect((await read(`/metrics/query?series=sb.tenant.connections&labels=${labels}`)).status).toBe(422);
    expect((await read('/metrics/series')).text).not.toContain('sb.');
    expect((await read(`/metrics/query?scope=system&series=sb.tenant.connections&labels=${labels}`)).status).toBe(403);
    answers.push((await read('/metrics/health')).text);
    const declare = await s.api('PUT', '/metrics/series/sb.mine', { body: { kind: 'gauge' } });
    expect(declare.status, declare.text).toBe(400);
    const rule = await s.api('PUT', '/metrics/alerts/lag', { body: { series: 'sb.event_loop_lag_ms', labels: { node: NODE }, stat: 'max', warning: 1 } });
    expect(rule.status, rule.text).toBe(422);

    // Over the socket: a tenant token reaches neither the system series nor the scope without a grant.
    const ada = await connectedClient(
      s.url,
      () => s.token({ sub: 'ada', tenant: 'acme', caps: { 'metrics:*': ['subscribe'], 'metrics:sb.*': ['subscribe'] } }),
      cleanup,
    );
    const refusals: SwitchboardError[] = [];
    for (const params of [
      { series: 'sb.tenant.connections', labels: { node: NODE, tenant: CANARY } },
      { scope: 'system' as const, series: 'sb.tenant.connections', labels: { node: NODE, tenant: CANARY } },
      { scope: 'system' as const, grant: 'sg_forged', series: 'sb.tenant.connections', labels: { node: NODE, tenant: CANARY } },
    ]) {
      const sub = ada.metrics.subscribe(params);
      const err = await sub.ready.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SwitchboardError);
      refusals.push(err as SwitchboardError);
      answers.push(JSON.stringify(sub.columns));
    }
    expect(refusals.map((e) => e.code)).toEqual([ErrorCode.UnknownSeries.code, ErrorCode.PermissionDenied.code, ErrorCode.PermissionDenied.code]);
    for (const text of answers) expect(text).not.toContain(CANARY);
  });

  it('follows the system scope live over a socket with a grant from the admin key', async () => {
    const granted = await s.api('POST', '/metrics/system/grants', admin());
    expect(granted.status, granted.text).toBe(200);
    expect(granted.body['expiresAt']).toBeGreaterThan(Date.now());
    const grant = granted.body['grant'] as string;
    const viewer = await connectedClient(s.url, () => s.token({ sub: 'console', tenant: 'demo', caps: {} }), cleanup);
    const sub = viewer.metrics.subscribe({
      scope: 'system',
      grant,
      series: ['sb.connections', 'sb.publications'],
      labels: { node: NODE },
      stats: ['count', 'last', 'sum'],
    });
    const reply = await sub.ready;
    expect(reply.series.map((x) => x.series)).toEqual(['sb.connections', 'sb.publications']);
    const publisher = await RawClient.connect(s.url, await s.token({ sub: 'ada', tenant: 'acme' }));
    cleanup.push(() => publisher.close());
    for (let i = 0; i < 3; i++) expect((await publisher.call('publish', { channel: 'project:2', data: { i } })).error).toBeUndefined();
    const before = (sub.columns.series[1]?.stats.sum ?? []).reduce<number>((a, b) => a + (b ?? 0), 0);
    sample();
    await eventually(
      () => (sub.columns.series[1]?.stats.sum ?? []).reduce<number>((a, b) => a + (b ?? 0), 0) >= before + 3,
      10_000,
      'the live frame with the publications',
    );
    const connections = (sub.columns.series[0]?.stats.last ?? []).filter((v) => v !== null);
    expect(connections[connections.length - 1]).toBeGreaterThanOrEqual(2);
  });

  it("leaves the console's own connection out of the node-level traffic, and merges every command's latency under method=*", async () => {
    const promSum = (text: string, metric: string) =>
      [...text.matchAll(new RegExp(`^${metric}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    const traffic = ['sb.messages_in', 'sb.messages_out', 'sb.bytes_in', 'sb.bytes_out'];
    // The earlier tests' connections (a live system-scope viewer among them, sent a frame after
    // every sample) would add frames of their own to the windows below, whenever they land:
    // closed first, and the windows start once the node counts none.
    for (const close of cleanup.splice(0)) close();
    await eventually(
      async () => {
        sample();
        return (await latest('sb.connections', { node: NODE })) === 0;
      },
      10_000,
      "the earlier tests' connections closed",
    );
    const console_ = await RawClient.connect(s.url, await s.token({ sub: 'console-k1', tenant: '_console', caps: {} }));
    cleanup.push(() => console_.close());
    const app = await RawClient.connect(s.url, await s.token({ sub: 'ada', tenant: 'acme' }));
    cleanup.push(() => app.close());

    // A window with only the console's traffic: /metrics counts it, the node-level series do not.
    sample();
    const before = await Promise.all(traffic.map((series) => total(series, { node: NODE })));
    const ownBefore = await total('sb.tenant.messages_in', { node: NODE, tenant: '_console' });
    const a = await prom();
    for (let i = 0; i < 12; i++) expect((await console_.call('subscribe', { channel: `project:${i}` })).error?.code).toBeDefined();
    const b = await prom();
    sample();
    expect(promValue(b, 'switchboard_messages_in_total') - promValue(a, 'switchboard_messages_in_total')).toBe(12);
    expect(promValue(b, 'switchboard_bytes_out_total') - promValue(a, 'switchboard_bytes_out_total')).toBeGreaterThan(0);
    const after = await Promise.all(traffic.map((series) => total(series, { node: NODE })));
    expect(after.map((v, i) => v - (before[i] as number))).toEqual([0, 0, 0, 0]);
    // It is still counted under its own tenant.
    expect((await total('sb.tenant.messages_in', { node: NODE, tenant: '_console' })) - ownBefore).toBe(12);

    // A window with an app's traffic beside the console's: the series move by exactly the app's share.
    const every = await total('sb.command_ms', { node: NODE, method: '*' }, 'count');
    const c = await prom();
    for (let i = 0; i < 7; i++) expect((await app.call('publish', { channel: 'project:3', data: { i } })).error).toBeUndefined();
    for (let i = 0; i < 3; i++) expect((await app.call('subscribe', { channel: `nowhere:${i}` })).error?.code).toBe(ErrorCode.UnknownChannel.code);
    for (let i = 0; i < 4; i++) await console_.call('subscribe', { channel: `project:${i}` });
    const d = await prom();
    sample();
    const moved = await Promise.all(traffic.map((series) => total(series, { node: NODE })));
    expect(moved[0] as number).toBe((after[0] as number) + 10);
    expect(moved[1] as number).toBe((after[1] as number) + 10);
    expect(promValue(d, 'switchboard_messages_in_total') - promValue(c, 'switchboard_messages_in_total')).toBe(14);
    // method=* holds every command the histogram observed in the window (the app's and the console's), in one bucket.
    const observed = promSum(d, 'switchboard_command_duration_seconds_count') - promSum(c, 'switchboard_command_duration_seconds_count');
    expect(observed).toBeGreaterThanOrEqual(7);
    expect((await total('sb.command_ms', { node: NODE, method: '*' }, 'count')) - every).toBe(observed);
  });
});

describe("an alert rule over the server's own figures", () => {
  const clock = new ManualClock(T0);
  let s: DurableServer;
  const cleanup: Array<() => void> = [];
  const sample = () => s.server.feature<{ meter: { sample(): number } }>('metrics').meter.sample();
  const RULE = {
    name: 'busy-node',
    series: 'sb.connections',
    labels: { node: 'self-b' },
    stat: 'max',
    warning: 0.5,
    critical: 1.5,
    tenant: 'acme',
    notify: { users: ['ann'] },
  };

  beforeAll(async () => {
    s = await startDurableServer('sqlite', { nodeId: 'self-b', now: clock.now, metrics: { systemInterval: 0, alertInterval: 0, alerts: [RULE] } });
  }, 30_000);

  afterAll(async () => {
    for (const c of cleanup) c();
    await s?.stop();
  });

  it('is evaluated like any rule and reports to the tenant it names, with an injected clock', async () => {
    const first = await RawClient.connect(s.url, await s.token({ sub: 'ada', tenant: 'demo' }));
    cleanup.push(() => first.close());
    sample();
    clock.advance(1000);
    await evaluate(s);
    const second = await RawClient.connect(s.url, await s.token({ sub: 'bo', tenant: 'demo' }));
    cleanup.push(() => second.close());
    sample();
    clock.advance(1000);
    await evaluate(s);
    await evaluate(s);
    const acme = as(s, 'acme');
    expect((await alertActivities(s, acme)).map((a) => [a.verb, a.data.value])).toEqual([
      ['alert.warning', 1],
      ['alert.critical', 2],
    ]);
    expect((await performanceNotes(s, acme, 'ann')).map((n) => n.title)).toEqual(['busy-node: warning', 'busy-node: critical']);
    // Not a rule of any tenant: neither in acme's health nor in the tenant whose connections moved it.
    expect((await health(s, acme)).rules.map((r: Answer) => r.name)).not.toContain('busy-node');
    expect(await alertActivities(s, as(s, 'demo'))).toEqual([]);
  });
});
