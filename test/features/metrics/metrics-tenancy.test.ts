import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.js';
import { type MetricsServer, pointsHeld, startMetricsServer } from './helpers.js';

/**
 * Tenancy and memory of metric streams: a tenant's stores, caps and label values are its own;
 * a canary planted in one tenant never shows in another's answers; an idle store is freed by
 * the sweep after the longest retention (the server's clock is moved, the sweep timer is real).
 */

const CANARY_VALUE = 424_242.5;

describe('metrics tenancy', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer({ maxSeries: 3, maxLabelValues: 2 });
  });
  afterAll(async () => {
    await m?.s.close();
  });

  it("never shows a canary of tenant demo in tenant acme's answers", async () => {
    const canary = { route: '/canary-demo' };
    // The admin key writes for the tenant its header names.
    expect((await m.ingest({ points: [{ series: 'api.latency_ms', labels: canary, value: CANARY_VALUE }] }, 'demo', true)).status).toBe(200);
    // demo's own key reads it: the point is there.
    const own = await m.query({ series: 'api.latency_ms', labels: canary, stats: 'count,max' }, 'demo');
    expect(own.json.stats.max).toContain(CANARY_VALUE);

    for (const resolution of ['1s', '10s', '1m']) {
      const res = await m.query({ series: 'api.latency_ms', labels: canary, resolution }, 'acme');
      expect(res.status).toBe(200);
      expect(res.json.count.every((n: number) => n === 0)).toBe(true);
      expect(JSON.stringify(res.json)).not.toContain(String(CANARY_VALUE));
    }
    const admin = await m.query({ series: 'api.latency_ms', labels: canary, stats: 'count,max' }, 'acme', true);
    expect(JSON.stringify(admin.json)).not.toContain(String(CANARY_VALUE));
  });

  it("a tenant at its caps never affects another tenant's ingest", async () => {
    // demo: the canary above plus two more label sets reach maxSeries 3.
    expect(
      (
        await m.ingest(
          {
            points: [
              { series: 'jobs.done', labels: { queue: 'a' }, value: 1 },
              { series: 'jobs.done', labels: { queue: 'b' }, value: 1 },
            ],
          },
          'demo',
        )
      ).status,
    ).toBe(200);
    const full = await m.ingest({ points: [{ series: 'queue.depth', value: 1 }] }, 'demo');
    expect(full.json.error).toMatchObject({ code: ErrorCode.SeriesLimit.code, data: { problems: [{ index: 0, code: ErrorCode.SeriesLimit.code }] } });
    expect(await pointsHeld(m, 'queue.depth', {}, 'demo')).toBe(0);
    // jobs.done's queue key has its 2 values in demo: a third refuses the batch (as the series cap would too).
    const values = await m.ingest({ points: [{ series: 'jobs.done', labels: { queue: 'c' }, value: 1 }] }, 'demo');
    expect([ErrorCode.SeriesLimit.code, ErrorCode.LabelValueLimit.code]).toContain(values.json.error.code);

    // acme, at the same moment, holds series and label values of its own.
    const acme = await m.ingest({
      points: [
        { series: 'jobs.done', labels: { queue: 'c' }, value: 1 },
        { series: 'jobs.done', labels: { queue: 'd' }, value: 1 },
        { series: 'queue.depth', value: 4 },
      ],
    });
    expect(acme).toEqual({ status: 200, json: { accepted: 3 } });
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(1);
  });
});

describe('metrics label-value cap', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer({ maxSeries: 100, maxLabelValues: 2 });
  });
  afterAll(async () => {
    await m?.s.close();
  });

  it('refuses a third value of a label key in one tenant, and counts values the batch itself adds', async () => {
    const point = (route: string, platform?: string) => ({ series: 'api.latency_ms', labels: { route, ...(platform ? { platform } : {}) }, value: 1 });
    expect((await m.ingest({ points: [point('/a', 'ios'), point('/a', 'web')] }, 'demo')).json).toEqual({ accepted: 2 });
    // Two new routes in one batch: the second is the third value of `route`.
    const res = await m.ingest({ points: [point('/b'), point('/c')] }, 'demo');
    expect(res.json.error).toMatchObject({ code: ErrorCode.LabelValueLimit.code, data: { refused: 1, problems: [{ index: 1 }] } });
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/b' }, 'demo')).toBe(0);
    // A value already held is no new value: more label sets with it are fine.
    expect((await m.ingest({ points: [point('/a'), point('/b')] }, 'demo')).json).toEqual({ accepted: 2 });
    // Another tenant has values of its own.
    expect((await m.ingest({ points: [point('/x', 'android'), point('/y', 'tv')] }, 'acme')).json).toEqual({ accepted: 2 });
  });
});

describe('metrics memory housekeeping', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer({ maxSeries: 1 });
  });
  afterAll(async () => {
    await m?.s.close();
  });

  it('frees an idle store after the longest retention, on the node clock', async () => {
    expect((await m.ingest({ points: [{ series: 'queue.depth', value: 3 }] })).status).toBe(200);
    const other = { points: [{ series: 'jobs.done', labels: { queue: 'q' }, value: 1 }] };
    expect((await m.ingest(other)).json.error.code).toBe(ErrorCode.SeriesLimit.code);

    // Just before the longest retention (15 one-minute buckets, the current one counting) it is kept.
    m.clock.advance(14 * 60_000);
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(1);

    m.clock.advance(60_000);
    await eventually(async () => (await m.ingest(other)).status === 200, 5000, 'the idle store to be freed by the sweep');
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(0);
    expect(await pointsHeld(m, 'jobs.done', { queue: 'q' })).toBe(1);
  });
});

describe('metrics body limit', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer({ maxBodyBytes: 2048 });
  });
  afterAll(async () => {
    await m?.s.close();
  });

  it('applies metrics.maxBodyBytes to the ingest route, not limits.httpBodyBytes', async () => {
    const values = (n: number) => Array.from({ length: n }, () => 1.5);
    expect((await m.ingest({ series: 'queue.depth', values: values(300) })).json).toEqual({ accepted: 300 });
    const res = await m.ingest({ series: 'queue.depth', values: values(700) });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe(ErrorCode.PayloadTooLarge.code);
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(300);
  });
});
