// @vitest-environment node
import { existsSync } from 'node:fs';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, launchChromium, type PageServer, startPageServer } from '../../../test/helpers/chromium.js';
import type { Harness } from './harness.js';
import { ingest, METRIC_CAPS, metricServer, SERIES } from './metric-server.js';

/**
 * MetricChart drawn by uPlot in real headless Chromium, over a real server: the page is the
 * built package bundled with React (development build, for the Profiler) and the SDK.
 */
const APP = `
import { createElement as h, Profiler } from 'react';
import { createRoot } from 'react-dom/client';
import { SwitchboardClient } from '@switchboard/client';
import { SwitchboardProvider, useMetric } from '@switchboard/react';
import { MetricChart, TimeChart } from '@switchboard/react/charts';

const stats = { commits: 0, draws: 0, drawsOutsideFrame: 0, frames: 0 };
window.stats = stats;
let inFrame = false;
const raf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (cb) => raf((t) => { inFrame = true; try { cb(t); } finally { inFrame = false; } });
const onDraw = () => { stats.draws++; if (!inFrame) stats.drawsOutsideFrame++; };

function Frames({ query }) {
  stats.frames = useMetric(query).data?.frames ?? 0;
  return null;
}

window.start = (url, token, query) => {
  const client = new SwitchboardClient(url, { token });
  client.connect();
  createRoot(document.getElementById('root')).render(
    h(SwitchboardProvider, { client },
      h(Profiler, { id: 'chart', onRender: () => stats.commits++ }, h(MetricChart, { query, name: 'latency', title: 'Latency', onDraw })),
      h(Frames, { query })),
  );
};

// The wrapper alone: 50 updates in one task are one redraw, at the next animation frame.
window.burst = async () => {
  const div = document.createElement('div');
  div.style.width = '400px';
  document.body.appendChild(div);
  let draws = 0;
  const chart = new TimeChart(div, { height: 100, labels: ['a'], onDraw: () => draws++ });
  const x = new Float64Array(50);
  const y = new Float64Array(50);
  for (let i = 0; i < 50; i++) {
    x[i] = 1.7e12 + i * 1000;
    y[i] = i;
    chart.update(() => [x.subarray(0, i + 1), y.subarray(0, i + 1)]);
  }
  const before = draws;
  await new Promise((r) => raf(() => raf(r)));
  chart.destroy();
  div.remove();
  return { before, after: draws };
};

// Pixels of the first line's colour (#2563eb) on the chart's canvas.
window.inked = () => {
  const canvas = document.querySelector('[data-testid="chart-latency"] canvas');
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let line = 0;
  for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 37) < 24 && Math.abs(d[i + 1] - 99) < 24 && Math.abs(d[i + 2] - 235) < 24 && d[i + 3] > 128) line++;
  return { width: canvas.width, height: canvas.height, line };
};
window.ready = true;
`;

interface Stats {
  commits: number;
  draws: number;
  drawsOutsideFrame: number;
  frames: number;
}

const stats = (page: Page) => page.evaluate(() => (window as unknown as { stats: Stats }).stats);

describe('MetricChart in headless Chromium', () => {
  let t: Harness;
  let web: PageServer;
  let chromium: Chromium;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`).toBe(true);
    const bundle = await build({
      stdin: { contents: APP, resolveDir: import.meta.dirname, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      define: { 'process.env.NODE_ENV': '"development"' },
      logLevel: 'silent',
    });
    const js = bundle.outputFiles[0]?.text as string;
    t = await metricServer();
    web = await startPageServer();
    web.pages.set(
      '/',
      '<!doctype html><html lang="en"><head><title>chart</title><link rel="icon" href="data:,"></head><body><div id="root" style="width:600px"></div><script type="module" src="/app.js"></script></body></html>',
    );
    web.routes.set('/app.js', (_req, res) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(js));
    chromium = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await chromium?.close();
    await web?.close();
    await t?.close();
  });

  it('draws live frames on a canvas at most once per animation frame, without re-rendering its React tree, and toggles to a table', async () => {
    const page = await chromium.browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${web.origin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);

    await ingest(t, [10, 20]);
    const token = await t.server.token({ sub: 'ada', caps: METRIC_CAPS });
    const query = { series: SERIES, window: '30s', stats: ['max'], maxRate: 10 };
    await page.evaluate(([url, tk, q]) => (window as unknown as { start: (...a: unknown[]) => void }).start(url, tk, q), [t.server.url, token, query] as const);
    await page.waitForFunction(() => {
      const s = (window as unknown as { stats: Stats }).stats;
      return s.frames >= 1 && s.draws >= 1;
    });
    await page.waitForSelector('[data-testid="chart-latency"][aria-busy="false"]');
    const loaded = await stats(page);

    // Live frames: each one redraws the plot (in an animation frame), none renders React.
    for (const value of [30, 40, 50, 60]) {
      const { frames } = await stats(page);
      await ingest(t, [value]);
      await page.waitForFunction((n) => (window as unknown as { stats: Stats }).stats.frames > n, frames);
    }
    await page.waitForFunction((n) => (window as unknown as { stats: Stats }).stats.draws > n, loaded.draws);
    const live = await stats(page);
    expect(live.frames).toBeGreaterThanOrEqual(loaded.frames + 4);
    expect(live.commits).toBe(loaded.commits);
    expect(live.drawsOutsideFrame).toBe(0);
    expect(live.draws).toBeLessThanOrEqual(live.frames);

    const inked = await page.evaluate(() => (window as unknown as { inked: () => { width: number; height: number; line: number } }).inked());
    expect(inked.width).toBeGreaterThan(0);
    expect(inked.height).toBeGreaterThan(0);
    expect(inked.line).toBeGreaterThan(0);

    const burst = await page.evaluate(() => (window as unknown as { burst: () => Promise<{ before: number; after: number }> }).burst());
    expect(burst).toEqual({ before: 0, after: 1 });

    await page.click('[data-testid="chart-latency"] button');
    await page.waitForSelector('[data-testid="chart-latency-table"] tbody tr');
    const cells = await page.$$eval('[data-testid="chart-latency"] table tbody td', (tds) => tds.map((td) => td.textContent));
    expect(cells).toContain('60');
    expect(await page.getAttribute('[data-testid="chart-latency"] [role="img"]', 'hidden')).not.toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  });
});
