import type { SwitchboardClient } from '@switchboard/client';
import { type Metrics, type MetricsOptions, metrics } from '@switchboard/client/metrics';
import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { badPoints, counter, type MetricsServer, pointsHeld, refusal, SERIES, sdkClients, startMetricsServer } from './helpers.js';

/**
 * Metric points over the socket: `metrics.push` through the SDK (`metrics(client).push`,
 * batched and acknowledged) into the same ingest path as HTTP — the same checks, the same
 * codes, all or nothing — with the `ingest` capability on `metrics:<series>`, per tenant.
 * The server's clock and the SDK's flush timer are one manual clock: no test waits on time.
 */

const INGEST = { 'metrics:*': ['ingest'] };
const WEB = { 'metrics:web.*': ['ingest'] };
const SOCKET_SERIES = { ...SERIES, 'web.lcp_ms': { kind: 'distribution', unit: 'ms', labels: ['page'] } } as const;

describe('metrics over the socket', () => {
  let m: MetricsServer;
  let sdk: ReturnType<typeof sdkClients>;

  beforeAll(async () => {
    m = await startMetricsServer({ series: SOCKET_SERIES, maxSeries: 40, maxLabelValues: 10, maxPoints: 600 });
    sdk = sdkClients(m);
  });
  afterAll(async () => {
    sdk?.close();
    await m?.s.close();
  });

  /** A connected client and its metrics module on the shared clock. */
  async function connected(
    caps: Record<string, string[]> = INGEST,
    tenant = 'acme',
    options: MetricsOptions = {},
  ): Promise<{ c: SwitchboardClient; push: Metrics }> {
    const c = await sdk.connected(caps, tenant);
    return { c, push: metrics(c, { timers: m.clock.timers, ...options }) };
  }

  /** Move the shared clock to the end of the SDK's flush window, so the batch goes out. */
  const flushWindow = () => m.clock.advance(50);
  const socketBatches = () => counter(m, 'switchboard_metric_batches_ingested_total{transport="socket"}');
  const socketPoints = () => counter(m, 'switchboard_metric_points_ingested_total{transport="socket"}');

  it('accepts pushed points, readable over GET /api/v1/metrics/query', async () => {
    const { push } = await connected();
    const now = m.clock.now();
    const login = { route: '/login' };
    const answers = [
      push.push('api.latency_ms', 10, { labels: login, ts: now - 900 }),
      push.push('api.latency_ms', 30, { labels: login, ts: now - 800 }),
      push.push('api.latency_ms', 20, { labels: login }),
      push.push('jobs.done', 4, { labels: { queue: 'mail' } }),
    ];
    expect(push.pending).toBe(4);
    flushWindow();
    await Promise.all(answers);
    expect(push.pending).toBe(0);
    const { json } = await m.query({ series: 'api.latency_ms', labels: login, from: now - 1000, to: now + 1000, stats: 'count,sum,max' });
    expect(json.count).toEqual([2, 1]);
    expect(json.stats.sum).toEqual([40, 20]);
    expect(json.stats.max).toEqual([30, 20]);
    expect(await pointsHeld(m, 'jobs.done', { queue: 'mail' })).toBe(1);
  });

  it('sends many pushes as few commands: one per flush window, or at once at the size caps', async () => {
    const { push } = await connected();
    const labels = { route: '/batched' };
    const batches = await socketBatches();
    const points = await socketPoints();
    const window = Array.from({ length: 300 }, (_, i) => push.push('api.latency_ms', i, { labels }));
    flushWindow();
    await Promise.all(window);
    expect(await socketBatches()).toBe(batches + 1);
    // 1,200 pushes in one turn with a point cap of 500: 500 and 500 at once, then 200 at the end of the window.
    const { push: points500 } = await connected(INGEST, 'acme', { maxBatchPoints: 500, maxBatchBytes: 60_000 });
    const many = Array.from({ length: 1200 }, (_, i) => points500.push('queue.depth', i));
    expect(points500.pending).toBe(1200);
    flushWindow();
    await Promise.all(many);
    expect(await socketBatches()).toBe(batches + 4);
    expect(await socketPoints()).toBe(points + 1500);
    expect(await pointsHeld(m, 'api.latency_ms', labels)).toBe(300);

    // The byte cap: at most 2 KiB of JSON a batch. A batch's points of one series and label set
    // go as one columnar block, 7 bytes a value here ("100123,"): 400 of them need two batches.
    const { c, push: capped } = await connected(INGEST, 'acme', { maxBatchBytes: 2048 });
    expect(metrics(c, { maxBatchBytes: 1 << 20 })).toBe(capped); // one module per client: options of the first call
    const mark = await socketBatches();
    const values = Array.from({ length: 400 }, (_, i) => capped.push('api.latency_ms', 100_000 + i, { labels: { route: '/bytes' } }));
    flushWindow();
    await Promise.all(values);
    expect((await socketBatches()) - mark).toBe(2);
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/bytes' })).toBe(400);
  });

  it('rejects a value that is not a finite number, or a bad ts, at once and without a command', async () => {
    const { push } = await connected();
    const before = await socketBatches();
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '5' as unknown as number, null as unknown as number]) {
      expect((await refusal(push.push('api.latency_ms', value))).code).toBe(ErrorCode.InvalidMetricValue.code);
    }
    for (const ts of [1.5, -1, 2 ** 53]) expect((await refusal(push.push('api.latency_ms', 1, { ts }))).code).toBe(ErrorCode.InvalidTimestamp.code);
    expect(push.pending).toBe(0);
    flushWindow();
    expect(await socketBatches()).toBe(before);
  });

  describe('refuses a bad batch whole over the socket, with the code of the HTTP path, writing nothing', () => {
    const now = () => m.clock.now();
    const canary = { route: '/socket-nothing-written' };
    const good = () => ({ series: 'api.latency_ms', labels: canary, ts: now(), value: 1 });
    const cases = badPoints(now);
    it.each(cases)('%s', async (_name, bad, code) => {
      const { c } = await connected();
      const before = await pointsHeld(m, 'api.latency_ms', {});
      const err = await refusal(c.call('metrics.push', { points: [good(), bad()] }));
      expect(err).toMatchObject({ code: code.code, temporary: false, data: { refused: 1, problems: [{ index: 1, code: code.code }] } });
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
      expect(await pointsHeld(m, 'api.latency_ms', {})).toBe(before);
    });

    it('a point older than the lateness behind an earlier point of the same batch', async () => {
      const { c } = await connected();
      const err = await refusal(c.call('metrics.push', { points: [good(), { ...good(), ts: now() - 10_001 }] }));
      expect(err).toMatchObject({ code: ErrorCode.TimestampTooLate.code, data: { problems: [{ index: 1 }] } });
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
    });

    it('lists the first 100 problems by index, with the count of all', async () => {
      const { c } = await connected();
      const points = [good(), ...Array.from({ length: 150 }, (_, i) => ({ ...good(), value: i % 2 === 0 ? 'x' : i }))];
      const err = await refusal(c.call('metrics.push', { points }));
      const data = err.data as { refused: number; problems: Array<{ index: number }> };
      expect(data.refused).toBe(75);
      expect(data.problems.map((p) => p.index)).toEqual(Array.from({ length: 75 }, (_, i) => 1 + 2 * i));
      const many = await refusal(c.call('metrics.push', { points: Array.from({ length: 250 }, () => ({ ...good(), value: null })) }));
      expect(many.data).toMatchObject({ refused: 250 });
      expect((many.data as { problems: unknown[] }).problems).toHaveLength(100);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
    });

    it("the tenant's label-value cap and series cap, and a batch above the point cap", async () => {
      const { c } = await connected(INGEST, 'demo');
      const route = (i: number) => ({ series: 'api.latency_ms', labels: { route: `/r${i}` }, value: 1 });
      // demo holds none yet: 10 values of route are its cap; the 11th refuses the batch.
      const values = await refusal(c.call('metrics.push', { points: Array.from({ length: 11 }, (_, i) => route(i)) }));
      expect(values).toMatchObject({ code: ErrorCode.LabelValueLimit.code, data: { refused: 1, problems: [{ index: 10 }] } });
      expect(await pointsHeld(m, 'api.latency_ms', { route: '/r0' }, 'demo')).toBe(0);
      // 41 label sets over two keys, under 10 values each, pass the 40 series the tenant may hold.
      const sets = Array.from({ length: 41 }, (_, i) => ({
        series: 'api.latency_ms',
        labels: { route: `/r${i % 7}`, platform: `p${Math.floor(i / 7)}` },
        value: 1,
      }));
      const series = await refusal(c.call('metrics.push', { points: sets }));
      expect(series).toMatchObject({ code: ErrorCode.SeriesLimit.code, data: { refused: 1, problems: [{ index: 40 }] } });
      expect(await pointsHeld(m, 'api.latency_ms', { route: '/r0', platform: 'p0' }, 'demo')).toBe(0);
      const cap = await refusal(c.call('metrics.push', { points: Array.from({ length: 601 }, () => ({ series: 'queue.depth', value: 1 })) }));
      expect(cap.code).toBe(ErrorCode.LimitExceeded.code);
      expect(await pointsHeld(m, 'queue.depth', {}, 'demo')).toBe(0);
    });

    it('a malformed batch: 107, and the connection stays usable', async () => {
      const { c, push } = await connected();
      const malformed = [
        {},
        { points: {} },
        { points: [{ value: 1 }] },
        { points: [{ series: 'queue.depth', labels: { a: 1 }, value: 1 }] },
        { points: [], extra: 1 },
      ];
      for (const params of malformed) expect((await refusal(c.call('metrics.push', params))).code).toBe(ErrorCode.BadRequest.code);
      const ok = push.push('queue.depth', 3);
      flushWindow();
      await ok;
    });

    it('columnar blocks (what the SDK sends): refused as the same points in rows are, by index in batch order, writing nothing', async () => {
      const { c } = await connected();
      const block = (values: unknown[], ts?: unknown[]) => ({ series: 'api.latency_ms', labels: canary, ...(ts ? { ts } : {}), values });
      // One block (the columnar path) and several (flattened in order): the bad value is point 2 either way.
      for (const blocks of [[block([1, 2, 'x'])], [block([1]), block([2, 'x'], [now(), now()])]]) {
        const err = await refusal(c.call('metrics.push', { blocks }));
        expect(err).toMatchObject({ code: ErrorCode.InvalidMetricValue.code, data: { refused: 1, problems: [{ index: 2 }] } });
      }
      const late = await refusal(c.call('metrics.push', { blocks: [block([1, 2], [now(), now() - 10_001])] }));
      expect(late).toMatchObject({ code: ErrorCode.TimestampTooLate.code, data: { problems: [{ index: 1 }] } });
      for (const params of [{ blocks: [block([1, 2], [now()])] }, { blocks: [], points: [] }, { blocks: [{ series: 'queue.depth', value: 1 }] }])
        expect((await refusal(c.call('metrics.push', params))).code, JSON.stringify(params)).toBe(ErrorCode.BadRequest.code);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
      // A block into a series the token may not ingest into refuses the batch whole, one block or several.
      const web = await connected(WEB);
      for (const blocks of [[block([1])], [{ series: 'web.lcp_ms', labels: { page: '/blocks' }, values: [1] }, block([1])]])
        expect((await refusal(web.c.call('metrics.push', { blocks }))).code).toBe(ErrorCode.PermissionDenied.code);
      expect(await pointsHeld(m, 'web.lcp_ms', { page: '/blocks' })).toBe(0);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
      // Good blocks land, with their timestamps or the server's clock.
      const labels = { route: '/blocks-ok' };
      const ok = await c.call<{ accepted: number }>('metrics.push', {
        blocks: [
          { series: 'api.latency_ms', labels, values: [5, 7] },
          { series: 'api.latency_ms', labels, ts: [now() - 1000], values: [9] },
          { series: 'queue.depth', values: [3] },
        ],
      });
      expect(ok).toEqual({ accepted: 4 });
      const { json } = await m.query({ series: 'api.latency_ms', labels, from: now() - 2000, to: now() + 1000, stats: 'count,sum' });
      expect(json.count.filter((n: number) => n > 0)).toEqual([1, 2]);
      expect(json.stats.sum.filter((v: number | null) => v !== null)).toEqual([9, 12]);
      // The suite's clients are one user's, within its connection limit.
      c.disconnect();
      web.c.disconnect();
    });

    it('an SDK batch refused by the server rejects every push in it', async () => {
      const { push } = await connected();
      const pushes = [push.push('api.latency_ms', 1, { labels: canary }), push.push('api.latency_ms', 2, { labels: { host: 'a' } })];
      flushWindow();
      for (const err of await Promise.all(pushes.map(refusal)))
        expect(err).toMatchObject({ code: ErrorCode.UnknownLabel.code, data: { problems: [{ index: 1 }] } });
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
    });
  });

  it('refuses a batch naming a series the token may not ingest into (103), whole; no other capability stands in', async () => {
    const web = await connected(WEB);
    const ok = web.push.push('web.lcp_ms', 812, { labels: { page: '/pricing' } });
    flushWindow();
    await ok;
    expect(await pointsHeld(m, 'web.lcp_ms', { page: '/pricing' })).toBe(1);

    const mixed = [web.push.push('web.lcp_ms', 900, { labels: { page: '/mixed' } }), web.push.push('api.latency_ms', 1, { labels: { route: '/mixed' } })];
    flushWindow();
    for (const err of await Promise.all(mixed.map(refusal))) expect(err.code).toBe(ErrorCode.PermissionDenied.code);
    expect(await pointsHeld(m, 'web.lcp_ms', { page: '/mixed' })).toBe(0);
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/mixed' })).toBe(0);

    const others = [
      {},
      { 'metrics:*': ['subscribe', 'publish', 'history', 'presence', 'signal', 'lock', 'comment'] },
      { 'metrics:web.lcp': ['ingest'] },
      { 'web.*': ['ingest'] },
    ];
    for (const caps of others) {
      const { c } = await connected(caps);
      const err = await refusal(c.call('metrics.push', { points: [{ series: 'web.lcp_ms', labels: { page: '/denied' }, value: 1 }] }));
      expect(err.code, JSON.stringify(caps)).toBe(ErrorCode.PermissionDenied.code);
    }
    // Without the capability an unknown series answers 103 too: nothing tells which series exist.
    expect((await refusal(web.c.call('metrics.push', { points: [{ series: 'api.nope', value: 1 }] }))).code).toBe(ErrorCode.PermissionDenied.code);
    expect(await pointsHeld(m, 'web.lcp_ms', { page: '/denied' })).toBe(0);
  });

  it("takes points of a series the tenant declared over HTTP, and only that tenant's", async () => {
    const put = await fetch(`${m.s.httpUrl}/api/v1/metrics/series/app.saves`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${m.s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'counter', labels: ['form'] }),
    });
    expect(put.status).toBe(200);
    const { push } = await connected();
    const saved = push.push('app.saves', 1, { labels: { form: 'signup' } });
    flushWindow();
    await saved;
    const { json } = await m.query({ series: 'app.saves', labels: { form: 'signup' }, resolution: '1m', stats: 'count' });
    expect(json.count.reduce((a: number, b: number) => a + b, 0)).toBe(1);
    // Tenant other declared nothing of the kind: the same push is an unknown series there.
    const other = await connected(INGEST, 'other');
    const refused = other.push.push('app.saves', 1, { labels: { form: 'signup' } });
    flushWindow();
    expect((await refusal(refused)).code).toBe(ErrorCode.UnknownSeries.code);
  });

  it("writes into the token's own tenant: tenant other's canary never shows in acme's answers", async () => {
    const canary = { route: '/socket-canary-other' };
    const other = await connected(INGEST, 'other');
    const pushed = other.push.push('api.latency_ms', 31_337.25, { labels: canary });
    flushWindow();
    await pushed;
    expect(await pointsHeld(m, 'api.latency_ms', canary, 'other')).toBe(1);
    expect(await pointsHeld(m, 'api.latency_ms', canary, 'acme')).toBe(0);
    for (const resolution of ['1s', '10s', '1m']) {
      const res = await m.query({ series: 'api.latency_ms', labels: canary, resolution }, 'acme');
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.json)).not.toContain('31337');
    }
  });

  it('queues pushes while offline up to maxPending, refuses beyond it with 23, and sends the queue once connected', async () => {
    const c = sdk.client(INGEST);
    const push = metrics(c, { timers: m.clock.timers, maxPending: 3 });
    const queued = [1, 2, 3].map((v) => push.push('queue.depth', v));
    expect(await refusal(push.push('queue.depth', 4))).toMatchObject({ code: 23, temporary: true });
    expect(push.pending).toBe(3);
    const held = await pointsHeld(m, 'queue.depth', {});
    const ready = new Promise((r) => c.once('connected', r));
    c.connect();
    await ready;
    await Promise.all(queued);
    expect(push.pending).toBe(0);
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(held + 3);
  });

  it('counts points by transport, and refused batches by code', async () => {
    const http = await counter(m, 'switchboard_metric_points_ingested_total{transport="http"}');
    const socket = await socketPoints();
    expect((await m.ingest({ series: 'queue.depth', values: [1, 2] })).status).toBe(200);
    const { push } = await connected();
    const one = push.push('queue.depth', 5);
    flushWindow();
    await one;
    expect(await counter(m, 'switchboard_metric_points_ingested_total{transport="http"}')).toBe(http + 2);
    expect(await socketPoints()).toBe(socket + 1);
    expect(await counter(m, 'switchboard_metric_batches_refused_total{transport="socket",code="103"}')).toBeGreaterThan(0);
  });

  it('client.metrics.push and metrics(client).push are one batcher: pushes of both shapes share a batch, in order', async () => {
    const { c, push } = await connected();
    const labels = { route: '/one-batcher' };
    const batches = await socketBatches();
    const now = m.clock.now();
    const answers = [
      c.metrics.push('api.latency_ms', 5, { labels, ts: now - 10 }),
      push.push('api.latency_ms', 7, { labels, ts: now - 5 }),
      c.metrics.push('api.latency_ms', 9, { labels }),
    ];
    // the core loads the batcher on the first push: wait for all three to be in it
    await vi.waitFor(() => expect(push.pending).toBe(3));
    expect(c.metrics.pending).toBe(3);
    flushWindow();
    await Promise.all(answers);
    expect(c.metrics.pending).toBe(0);
    expect(await socketBatches()).toBe(batches + 1);
    const { json } = await m.query({ series: 'api.latency_ms', labels, from: now - 1000, to: now + 1000, stats: 'count,sum,last' });
    expect(json.count.reduce((a: number, b: number) => a + b, 0)).toBe(3);
    expect((json.stats.last as Array<number | null>).filter((v) => v !== null).at(-1)).toBe(9);
  });

  it('client.metrics.push alone: acknowledged after client.metrics.flush, a refused push rejects with its code', async () => {
    const c = await sdk.connected(INGEST);
    const held = await pointsHeld(m, 'queue.depth', {});
    const one = c.metrics.push('queue.depth', 42);
    const flushed = c.metrics.flush();
    await Promise.all([one, flushed]);
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(held + 1);
    expect(await refusal(c.metrics.push('queue.depth', Number.NaN))).toMatchObject({ code: ErrorCode.InvalidMetricValue.code });
    const unknown = c.metrics.push('no.such.series', 1);
    await c.metrics.flush();
    expect(await refusal(unknown)).toMatchObject({ code: ErrorCode.UnknownSeries.code });
    await expect(c.metrics.flush()).resolves.toBeUndefined();
  });
});
