import { type ClientRequest, request } from 'node:http';
import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badPoints, type MetricsServer, pointsHeld, startMetricsServer, T0 } from './helpers.js';

/**
 * Metric streams over the real HTTP API: points in rows and columns come back as the buckets a
 * hand computation gives; every bad input of an ingest batch is refused with its own code, the
 * problems listed by index, and nothing of the batch written.
 */

const LOGIN = { route: '/login' };

describe('metrics ingest and query over HTTP', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer();
  });
  afterAll(async () => {
    await m?.s.close();
  });

  it('answers rows and columns as the buckets computed by hand', async () => {
    const rows = await m.ingest({
      points: [
        { series: 'api.latency_ms', labels: LOGIN, ts: T0 + 100, value: 10 },
        { series: 'api.latency_ms', labels: LOGIN, ts: T0 + 200, value: 20 },
        { series: 'api.latency_ms', labels: LOGIN, ts: T0 + 1500, value: 30 },
      ],
    });
    expect(rows).toEqual({ status: 200, json: { accepted: 3 } });
    const columns = await m.ingest({ series: 'api.latency_ms', labels: LOGIN, ts: [T0 + 1600, T0 + 2100], values: [40, 50] });
    expect(columns).toEqual({ status: 200, json: { accepted: 2 } });

    const { status, json } = await m.query({ series: 'api.latency_ms', labels: LOGIN, from: T0, to: T0 + 3000, resolution: '1s' });
    expect(status).toBe(200);
    expect(json).toMatchObject({
      series: 'api.latency_ms',
      kind: 'distribution',
      unit: 'ms',
      labels: LOGIN,
      resolution: '1s',
      start: T0,
      step: 1000,
      truncated: false,
    });
    expect(json.count).toEqual([2, 2, 1]);
    expect(json.stats).toMatchObject({ sum: [30, 70, 50], min: [10, 30, 50], max: [20, 40, 50], avg: [15, 35, 50], last: [20, 40, 50] });
    expect(json.stats.rate).toBeUndefined();
    // Nearest rank: p50 of {10, 20} is 10, p99 is 20; the sketch answers within 1 %.
    expect(json.stats.p50[0]).toBeCloseTo(10, 0);
    expect(Math.abs(json.stats.p50[0] - 10)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(json.stats.p99[0] - 20)).toBeLessThanOrEqual(0.2);

    const ten = await m.query({ series: 'api.latency_ms', labels: LOGIN, from: T0, to: T0 + 10_000, resolution: '10s', stats: 'count,sum,max' });
    expect(ten.json).toMatchObject({ start: T0, step: 10_000, count: [5], stats: { sum: [150], max: [50] } });
    expect(Object.keys(ten.json.stats).sort()).toEqual(['max', 'sum']);
  });

  it('accepts a list of columnar blocks, and shows counters as a rate', async () => {
    const res = await m.ingest({
      blocks: [
        { series: 'jobs.done', labels: { queue: 'mail' }, ts: [T0 + 100, T0 + 900], values: [3, 5] },
        { series: 'jobs.done', labels: { queue: 'mail' }, ts: [T0 + 1100], values: [2] },
      ],
    });
    expect(res).toEqual({ status: 200, json: { accepted: 3 } });
    const one = await m.query({ series: 'jobs.done', labels: { queue: 'mail' }, from: T0, to: T0 + 2000, resolution: '1s', stats: 'count,sum,rate' });
    expect(one.json).toMatchObject({ kind: 'counter', count: [2, 1], stats: { sum: [8, 2], rate: [8, 2] } });
    const ten = await m.query({ series: 'jobs.done', labels: { queue: 'mail' }, from: T0, to: T0 + 10_000, resolution: '10s', stats: 'rate' });
    expect(ten.json.stats.rate).toEqual([1]);
  });

  it('refuses a body that mixes or lacks the forms, writing nothing', async () => {
    const row = { series: 'queue.depth', ts: T0 + 100, value: 1 };
    for (const body of [{}, { points: [row], labels: { route: '/x' } }, { points: [row], blocks: [] }, { labels: {} }]) {
      const res = await m.ingest(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe(ErrorCode.BadRequest.code);
    }
    const mismatched = await m.ingest({ series: 'queue.depth', ts: [T0 + 100], values: [1, 2] });
    expect(mismatched.json.error.code).toBe(ErrorCode.BadRequest.code);
    expect(await pointsHeld(m, 'queue.depth', {})).toBe(0);
  });

  it('checks a row body row by row as the schema does: any malformed row refuses it (107, naming the row), a good one is taken as it is', async () => {
    const good = { series: 'jobs.done', labels: { queue: 'rows-check' }, ts: T0 + 100, value: 1 };
    const bad: Array<[string, unknown]> = [
      ['a row that is null', null],
      ['a row that is an array', [good]],
      ['a series that is not a string', { ...good, series: 1 }],
      ['a key of no row', { ...good, tenant: 'other' }],
      ['labels that are an array', { ...good, labels: ['x'] }],
      ['a label value that is not a string', { ...good, labels: { route: 1 } }],
      ['labels that are null', { ...good, labels: null }],
    ];
    for (const [name, row] of bad) {
      const res = await m.ingest({ points: [good, good, row] });
      expect(res.status, name).toBe(400);
      expect(res.json.error.code, name).toBe(ErrorCode.BadRequest.code);
      expect(res.json.error.message, name).toContain('points');
      expect(res.json.error.message, name).toContain('2');
    }
    // An own __proto__ label key (JSON.parse keeps it) is refused, not dropped.
    const proto = await fetch(`${m.s.httpUrl}/api/v1/metrics/points`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: `{"points":[${JSON.stringify(good)},{"series":"api.latency_ms","labels":{"__proto__":"x"},"value":1}]}`,
    });
    expect(proto.status).toBe(400);
    expect(await pointsHeld(m, 'jobs.done', { queue: 'rows-check' })).toBe(0);
    // Rows with labels and ts or without, and no value (refused as a point, 135, not as a body).
    const rows = [
      good,
      { series: 'api.latency_ms', labels: { route: '/rows' }, value: 5 },
      { series: 'api.latency_ms', labels: { route: '/rows', platform: 'ios' }, value: 6 },
    ];
    expect((await m.ingest({ points: rows })).json).toEqual({ accepted: 3 });
    expect(await pointsHeld(m, 'jobs.done', { queue: 'rows-check' })).toBe(1);
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/rows' })).toBe(1);
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/rows', platform: 'ios' })).toBe(1);
    const missing = await m.ingest({ points: [{ series: 'jobs.done', labels: { queue: 'rows-check' } }] });
    expect(missing.json.error.code).toBe(ErrorCode.InvalidMetricValue.code);
  });

  it("stamps points without ts with the server's clock", async () => {
    m.clock.advance(5000);
    expect(
      (
        await m.ingest({
          points: [
            { series: 'queue.depth', value: 7 },
            { series: 'queue.depth', value: 9 },
          ],
        })
      ).json,
    ).toEqual({ accepted: 2 });
    const { json } = await m.query({ series: 'queue.depth', from: T0 + 5000, to: T0 + 6000, stats: 'count,last' });
    expect(json).toMatchObject({ start: T0 + 5000, count: [2], stats: { last: [9] } });
    // A columnar block without ts: every value at the clock.
    expect((await m.ingest({ series: 'queue.depth', values: [4, 5, 6] })).json).toEqual({ accepted: 3 });
    const after = await m.query({ series: 'queue.depth', from: T0 + 5000, to: T0 + 6000, stats: 'count,last,max' });
    expect(after.json).toMatchObject({ count: [5], stats: { last: [6], max: [9] } });
  });

  it('reads a window before the retention clipped, with truncated: true, and empty buckets as null', async () => {
    const { json } = await m.query({ series: 'queue.depth', from: T0 - 600_000, to: T0 + 2000, resolution: '1s', stats: 'count,last' });
    expect(json.truncated).toBe(true);
    // Now is T0 + 5 s: the 1 s buckets kept start 59 s before the current one.
    expect(json.start).toBe(T0 + 5000 - 59_000);
    expect(json.count).toEqual(Array.from({ length: 56 }, () => 0));
    const empty = await m.query({ series: 'queue.depth', from: T0 + 3000, to: T0 + 5000, stats: 'count,last' });
    expect(empty.json).toMatchObject({ truncated: false, count: [0, 0], stats: { last: [null, null] } });
  });

  it('refuses an unknown resolution, an unknown series, a statistic the kind lacks and an undeclared or malformed label set', async () => {
    const res = await m.query({ series: 'queue.depth', resolution: '5s' });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe(ErrorCode.UnknownResolution.code);
    const unknown = await m.query({ series: 'no.such' });
    expect(unknown.json.error.code).toBe(ErrorCode.UnknownSeries.code);
    const rate = await m.query({ series: 'queue.depth', stats: 'rate' });
    expect(rate.json.error.code).toBe(ErrorCode.BadRequest.code);
    const label = await m.query({ series: 'api.latency_ms', labels: { host: 'a' } });
    expect(label.json.error.code).toBe(ErrorCode.UnknownLabel.code);
    const labels = await m.query({ series: 'api.latency_ms', labels: 'route=/login' });
    expect(labels.json.error.code).toBe(ErrorCode.BadRequest.code);
  });

  describe('refuses a bad batch whole, with a code per problem, writing nothing', () => {
    const now = () => m.clock.now();
    const canary = { route: '/nothing-written' };
    const good = () => ({ series: 'api.latency_ms', labels: canary, ts: now(), value: 1 });
    const cases = badPoints(now);
    it.each(cases)('%s', async (_name, bad, code) => {
      const before = await pointsHeld(m, 'api.latency_ms', {});
      const res = await m.ingest({ points: [good(), bad()] });
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: code.code, temporary: false, data: { refused: 1, problems: [{ index: 1, code: code.code }] } });
      expect(res.json.error.data.problems[0].reason).toEqual(expect.any(String));
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
      expect(await pointsHeld(m, 'api.latency_ms', {})).toBe(before);
    });

    it('a point older than the lateness behind an earlier point of the same batch', async () => {
      const res = await m.ingest({ series: 'api.latency_ms', labels: canary, ts: [now(), now() - 10_001], values: [1, 2] });
      expect(res.json.error).toMatchObject({ code: ErrorCode.TimestampTooLate.code, data: { problems: [{ index: 1 }] } });
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
      // Within the lateness it lands in its own past bucket.
      expect((await m.ingest({ series: 'api.latency_ms', labels: { route: '/late' }, ts: [now(), now() - 9000], values: [1, 2] })).json).toEqual({
        accepted: 2,
      });
    });

    it('a point older than the lateness behind the newest point held', async () => {
      expect((await m.ingest({ points: [{ series: 'queue.depth', ts: now(), value: 1 }] })).status).toBe(200);
      const held = await pointsHeld(m, 'queue.depth', {});
      const res = await m.ingest({ points: [{ series: 'queue.depth', ts: now() - 10_001, value: 1 }] });
      expect(res.json.error.code).toBe(ErrorCode.TimestampTooLate.code);
      expect(await pointsHeld(m, 'queue.depth', {})).toBe(held);
    });

    it('lists the first 100 problems by index, with the count of all', async () => {
      const values: unknown[] = Array.from({ length: 150 }, (_, i) => (i % 2 === 0 ? 'x' : i));
      const res = await m.ingest({ series: 'api.latency_ms', labels: canary, values: [1, ...values, null] });
      expect(res.status).toBe(422);
      const { data, code } = res.json.error;
      expect(code).toBe(ErrorCode.InvalidMetricValue.code);
      expect(data.refused).toBe(76);
      expect(data.problems).toHaveLength(76);
      expect(data.problems.map((p: { index: number }) => p.index)).toEqual([...Array.from({ length: 75 }, (_, i) => 1 + 2 * i), 151]);
      const many = await m.ingest({ series: 'api.latency_ms', labels: canary, values: Array.from({ length: 250 }, () => null) });
      expect(many.json.error.data.refused).toBe(250);
      expect(many.json.error.data.problems).toHaveLength(100);
      expect(many.json.error.data.problems[99].index).toBe(99);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
    });

    it('a batch above the point cap', async () => {
      const res = await m.ingest({ series: 'api.latency_ms', labels: canary, values: Array.from({ length: 10_001 }, () => 1) });
      expect(res.status).toBe(422);
      expect(res.json.error.code).toBe(ErrorCode.LimitExceeded.code);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
      expect((await m.ingest({ series: 'api.latency_ms', labels: { route: '/cap' }, values: Array.from({ length: 10_000 }, () => 1) })).json).toEqual({
        accepted: 10_000,
      });
    });

    /** POST to the ingest route with node:http; `send` writes the body (or not) while the answer is awaited. */
    function post(headers: Record<string, string>, send: (req: ClientRequest) => void): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const req = request(`${m.s.httpUrl}/api/v1/metrics/points`, {
          method: 'POST',
          headers: { authorization: `Bearer ${m.s.tenantKeys['acme']}`, 'content-type': 'application/json', ...headers },
        });
        req.on('response', (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body });
            req.destroy();
          });
        });
        req.on('error', reject);
        send(req);
      });
    }

    it('a body declared above 1 MiB, refused before it is read', async () => {
      // Only the headers are sent: the answer comes without a byte of the body.
      const res = await post({ 'content-length': String(1_048_577) }, (req) => req.flushHeaders());
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).error.code).toBe(ErrorCode.PayloadTooLarge.code);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
    });

    it('a chunked body that grows past 1 MiB is answered 413 before it ends', async () => {
      // A well-formed start of a batch that never ends: only a server that counts while reading can answer.
      const res = await post({ 'transfer-encoding': 'chunked' }, (req) => {
        req.write('{"series":"api.latency_ms","labels":{"route":"/nothing-written"},"values":[1');
        const chunk = ',1'.repeat(16_384);
        let sent = 0;
        const next = (): void => {
          if (req.destroyed || sent > 1_200_000) return;
          sent += chunk.length;
          req.write(chunk, next);
        };
        next();
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).error.code).toBe(ErrorCode.PayloadTooLarge.code);
      expect(await pointsHeld(m, 'api.latency_ms', canary)).toBe(0);
    });
  });
});
