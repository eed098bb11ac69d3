// @vitest-environment happy-dom
import { ErrorCode, type SwitchboardClient } from '@switchboard/client';
import { createElement as h, Suspense } from 'react';
import { describe, expect, it } from 'vitest';
import { type HookResult, type MetricSnapshot, useMetric } from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { perTest, Recorder } from './harness.js';
import { commandsServed, ingest, METRIC_SERVER, metricClient, SERIES, untilOpen } from './metric-server.js';

const t$ = perTest();

const QUERY = { series: SERIES, window: '10s', stats: ['count', 'max'], maxRate: 10 } as const;

const mount = (client: SwitchboardClient, child: ReturnType<typeof h>) => t$.strict(client, child);

const total = (s: MetricSnapshot | undefined, stat: 'count' | 'max') => [...(s?.series[0]?.stats[stat] ?? [])].filter((v) => !Number.isNaN(v));

describe('useMetric', () => {
  it('under StrictMode opens one subscription, shows the backfill then live frames as stable typed-array columns, and unsubscribes on unmount', async () => {
    const t = await t$.harness(METRIC_SERVER);
    await ingest(t, [10, 20, 30]);
    const client = metricClient(t);
    const seen = new Recorder<HookResult<MetricSnapshot>>();
    function Probe() {
      seen.push(useMetric({ ...QUERY, stats: [...QUERY.stats] }));
      return null;
    }
    const root = mount(client, h(Probe));
    await seen.until((r) => r.data !== undefined, 'the backfill');
    const backfill = seen.last?.data as MetricSnapshot;
    expect(backfill.frames).toBe(1);
    expect(backfill.columns).toEqual(['count', 'max']);
    expect(backfill.step).toBe(1000);
    expect(backfill.series[0]).toMatchObject({ series: SERIES, kind: 'distribution', unit: 'ms' });
    const s0 = backfill.series[0];
    expect(s0?.t).toBeInstanceOf(Float64Array);
    expect(s0?.stats.max).toBeInstanceOf(Float64Array);
    expect(s0?.stats.count?.length).toBe(s0?.t.length);
    expect(total(backfill, 'count').reduce((a, b) => a + b, 0)).toBe(3);
    expect(Math.max(...total(backfill, 'max'))).toBe(30);

    // A live frame appends or replaces its bucket; the earlier snapshot is left as it was.
    await ingest(t, [99]);
    await seen.until((r) => Math.max(...total(r.data, 'max')) === 99, 'the live frame');
    expect(seen.last?.data?.frames).toBeGreaterThan(1);
    expect(Math.max(...total(backfill, 'max'))).toBe(30);
    // Stable: every render of one frame saw the same object.
    const byFrame = new Map<number, Set<unknown>>();
    for (const r of seen.values) if (r.data) byFrame.set(r.data.frames, (byFrame.get(r.data.frames) ?? new Set()).add(r));
    for (const results of byFrame.values()) expect(results.size).toBe(1);

    // One subscription on the server, however StrictMode mounted the hook.
    await untilOpen(t, 1);
    expect(await commandsServed(t, 'metrics.subscribe')).toBe(1);

    root.unmount();
    await untilOpen(t, 0);
    // The connection holds at most one: the server has room for a new one.
    await expect(client.metrics.subscribe({ series: SERIES }).ready).resolves.toMatchObject({ step: 1000 });
  });

  it('the Suspense flavour suspends until the backfill, and a series the token may not read gives the plain hook 103', async () => {
    const t = await t$.harness(METRIC_SERVER);
    await ingest(t, [5]);
    const client = metricClient(t);
    const data = new Recorder<MetricSnapshot>();
    const fallback = new Recorder<string>();
    function Chart() {
      data.push(suspense.useMetric({ ...QUERY, stats: [...QUERY.stats] }));
      return null;
    }
    function Fallback() {
      fallback.push('loading');
      return null;
    }
    mount(client, h(Suspense, { fallback: h(Fallback) }, h(Chart)));
    await data.until((s) => s.frames >= 1, 'the backfill');
    expect(fallback.renders).toBeGreaterThan(0);
    expect(total(data.last, 'count').reduce((a, b) => a + b, 0)).toBe(1);

    const denied = metricClient(t, 'bob', { 'metrics:other.*': ['subscribe'] });
    const refused = new Recorder<HookResult<MetricSnapshot>>();
    function Probe() {
      refused.push(useMetric({ series: SERIES }));
      return null;
    }
    mount(denied, h(Probe));
    await refused.until((r) => r.error !== null, 'the refusal');
    expect(refused.last).toMatchObject({ data: undefined, isLoading: false, error: { code: ErrorCode.PermissionDenied.code } });
  });
});
