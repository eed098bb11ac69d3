import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { MetricChart } from '../src/charts/index.js';
import { SwitchboardProvider, useMetric } from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { perTest } from './harness.js';

const t$ = perTest();

/** Record every read of `window` and `document` while `run` runs (both undefined, as on a server). */
function watchingGlobals<T>(run: () => T): { value: T; touched: string[] } {
  const touched: string[] = [];
  const g = globalThis as Record<string, unknown>;
  const saved = ['window', 'document'].map((name) => [name, Object.getOwnPropertyDescriptor(g, name)] as const);
  for (const [name] of saved) {
    Object.defineProperty(g, name, {
      configurable: true,
      get: () => {
        touched.push(name);
        return undefined;
      },
    });
  }
  try {
    return { value: run(), touched };
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(g, name, descriptor);
      else delete g[name];
    }
  }
}

describe('charts on the server', () => {
  for (const kind of ['url', 'client'] as const) {
    it(`renderToString of MetricChart and useMetric (provider with ${kind}) renders a placeholder, opens no socket and touches no window`, async () => {
      const t = await t$.harness();
      const { props: provider, client } = t.provider(kind);
      const results: unknown[] = [];
      function Probe() {
        results.push(useMetric({ series: 'api.latency_ms' }));
        return null;
      }
      function Suspended() {
        suspense.useMetric({ series: 'api.latency_ms' });
        return null;
      }
      const tree = () =>
        h(
          SwitchboardProvider,
          provider,
          h(MetricChart, { query: { series: 'api.latency_ms', stats: ['p95'] }, name: 'latency', height: 120 }),
          h(Probe),
          h(suspense.ClientSideSuspense, { fallback: h('p', null, 'loading') }, () => h(Suspended)),
        );
      const { value: html, touched } = watchingGlobals(() => renderToString(tree()));
      renderToString(tree());
      // Nothing reads them but the URL provider's own `typeof window` (how it knows it is on the server):
      // any other use would have thrown on the undefined it got.
      expect(touched).toEqual(kind === 'url' ? ['window'] : []);
      expect(html).toContain('data-testid="chart-latency"');
      expect(html).toContain('aria-busy="true"');
      expect(html).toContain('role="img"');
      expect(html).not.toContain('<canvas');
      expect(html).not.toContain('<table');
      expect(results).toHaveLength(2);
      expect(results[1]).toBe(results[0]);
      expect(results[0]).toEqual({ data: undefined, isLoading: true, error: null });

      expect(client.state).toBe('disconnected');
      expect(t.counts.connects).toBe(0);
    });
  }
});
