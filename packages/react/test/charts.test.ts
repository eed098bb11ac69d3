// @vitest-environment happy-dom
import type { SwitchboardClient } from '@switchboard/client';
import { createElement as h, Profiler } from 'react';
import { describe, expect, it } from 'vitest';
import { formatValue, MetricChart, tableRows } from '../src/charts/index.js';
import { type HookResult, type MetricSnapshot, SwitchboardProvider, useMetric } from '../src/index.js';
import { perTest, Recorder } from './harness.js';
import { ingest, METRIC_SERVER, metricClient, SERIES, untilOpen } from './metric-server.js';

const t$ = perTest();

const QUERY = { series: SERIES, window: '30s', stats: ['count', 'max'], maxRate: 10 } as MetricChartQuery;
type MetricChartQuery = Parameters<typeof MetricChart>[0]['query'];

function mount(client: SwitchboardClient, ...children: ReturnType<typeof h>[]): { root: ReturnType<typeof t$.root>; element: HTMLElement } {
  const element = document.body.appendChild(document.createElement('div'));
  const root = t$.root(element);
  root.render(h(SwitchboardProvider, { client }, ...children));
  return { root, element };
}

describe('MetricChart (DOM emulation: no canvas, so the plot is not drawn here; test/charts-browser.test.ts draws it in Chromium)', () => {
  it('renders its React tree when it loads, never per frame, and its table view shows the numbers of useMetric', async () => {
    const t = await t$.harness(METRIC_SERVER);
    await ingest(t, [12, 7]);
    const client = metricClient(t);
    const commits = new Recorder<string>();
    const frames = new Recorder<HookResult<MetricSnapshot>>();
    function Frames() {
      frames.push(useMetric(QUERY));
      return null;
    }
    const { root, element } = mount(
      client,
      h(
        Profiler,
        { id: 'chart', onRender: (_id: string, phase: string) => commits.push(phase) },
        h(MetricChart, { query: QUERY, name: 'latency', title: 'Latency (ms)' }),
      ),
      h(Frames),
    );
    await frames.until((r) => r.data !== undefined, 'the backfill');
    await commits.until(() => element.querySelector('[data-testid="chart-latency"]')?.getAttribute('aria-busy') === 'false', 'the chart loaded');
    const loadedCommits = commits.renders;

    // Frames arrive: the hook beside it renders each, the chart's tree does not.
    for (const value of [40, 41, 42]) {
      const before = frames.last?.data?.frames ?? 0;
      await ingest(t, [value]);
      await frames.until((r) => (r.data?.frames ?? 0) > before, `the frame with ${value}`);
    }
    expect(frames.last?.data?.frames).toBeGreaterThanOrEqual(4);
    expect(commits.renders).toBe(loadedCommits);

    // The table view: the same numbers, as an accessible table.
    const chart = element.querySelector('[data-testid="chart-latency"]') as HTMLElement;
    const toggle = chart.querySelector('button') as HTMLButtonElement;
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    toggle.click();
    await commits.until(() => chart.querySelector('table') !== null, 'the table');
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    const table = chart.querySelector('table') as HTMLTableElement;
    expect(table.querySelector('caption')?.textContent).toBe('Latency (ms)');
    expect([...table.querySelectorAll('thead th')].map((th) => [th.textContent, th.getAttribute('scope')])).toEqual([
      ['time (UTC)', 'col'],
      ['count', 'col'],
      ['max', 'col'],
    ]);
    const cells = () => [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    const expected = () => tableRows(frames.last?.data as MetricSnapshot, ['count', 'max']).rows.map((r) => r.values.map(formatValue));
    expect(cells()).toEqual(expected());
    expect(cells().flat()).toContain('42');
    // While shown, it follows the frames.
    const before = frames.last?.data?.frames ?? 0;
    await ingest(t, [77]);
    await frames.until((r) => (r.data?.frames ?? 0) > before, 'the frame with 77');
    await commits.until(() => cells().flat().includes('77'), 'the table shows 77');
    expect(cells()).toEqual(expected());

    root.unmount();
    await untilOpen(t, 0);
  });
});
