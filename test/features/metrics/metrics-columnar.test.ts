import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, type MetricsServer, SERIES, startMetricsServer, T0 } from './helpers.js';

/**
 * The columnar form `{series, labels, ts, values}` and the blocks form `{blocks: [...]}`
 * (both checked and written block by block) against the same points sent as rows (the
 * general path, a point object per value): the same points stored (every resolution and
 * statistic answers the same) and the same refusals, byte for byte — whether the bad point is
 * the first, one in the middle or several, in the first block or a later one, and for bodies
 * of the wrong shape.
 */

const PERSISTED = { 'disk.io': { kind: 'gauge', persist: true } };
const RESOLUTIONS = ['1s', '10s', '1m'];
const LOGIN = { route: '/login' };

type Block = { series: string; labels?: Record<string, string>; ts?: unknown[]; values: unknown[] };

/** The points of blocks as rows, in order. */
const rowsOf = (...blocks: Block[]) =>
  blocks.flatMap((b) => b.values.map((value, i) => ({ series: b.series, ...(b.labels ? { labels: b.labels } : {}), ...(b.ts ? { ts: b.ts[i] } : {}), value })));

describe('metrics ingest: the columnar form against the same block in the general path', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer({ series: { ...SERIES, ...PERSISTED }, maxPoints: 100 });
    m.clock.advanceTo(T0 + 70_000);
  });
  afterAll(async () => {
    await m?.s.close();
  });

  /** Every bucket of a label set at every resolution, as the query answers it. */
  async function everything(tenant: string, series: string, labels: Record<string, string> = {}): Promise<Answer[]> {
    const out: Answer[] = [];
    for (const resolution of RESOLUTIONS) {
      const { status, json } = await m.query({ series, labels, resolution, from: T0 - 600_000, to: T0 + 80_000 }, tenant);
      expect(status).toBe(200);
      out.push(json);
    }
    return out;
  }

  /** Sends `block` columnar as acme and as rows as other; both accepted, both stores answer the same. */
  async function same(block: Block): Promise<void> {
    const columnar = await m.ingest(block, 'acme');
    const general = await m.ingest({ points: rowsOf(block) }, 'other');
    expect(columnar).toEqual({ status: 200, json: { accepted: block.values.length } });
    expect(general).toEqual(columnar);
    const a = await everything('acme', block.series, block.labels);
    expect(a.some((r) => r.count.some((c: number) => c > 0))).toBe(true);
    expect(a).toEqual(await everything('other', block.series, block.labels));
  }

  it('stores one point as the general path does', async () => {
    await same({ series: 'queue.depth', ts: [T0 + 65_000], values: [7] });
  });

  it('stores points spanning buckets of every resolution, out of order and with duplicate timestamps, as the general path does', async () => {
    const ts: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < 90; i++) {
      // Ascending in steps of 611 ms across 1 s, 10 s and 1 min boundaries, every fifth point 3 s late, every seventh a duplicate timestamp.
      const t = T0 + 14_000 + i * 611 - (i % 5 === 4 ? 3000 : 0) - (i % 7 === 6 ? 611 : 0);
      ts.push(Math.min(t, T0 + 70_000));
      values.push(i % 3 === 0 ? -i / 7 : i % 11 === 0 ? 0 : (i * 37) % 101);
    }
    await same({ series: 'api.latency_ms', labels: LOGIN, ts, values });
    await same({ series: 'jobs.done', labels: { queue: 'mail' }, ts, values });
  });

  it('stores points without timestamps (at the clock), -0, and a series kept in storage, as the general path does', async () => {
    await same({ series: 'queue.depth', values: [1, -0, 2.5, 1e300, -1e-300] });
    await same({ series: 'disk.io', ts: [T0 + 69_000, T0 + 69_500, T0 + 70_000], values: [3, 4, 5] });
  });

  it('adds to a store that already holds points, checking lateness against its newest point', async () => {
    await same({ series: 'api.latency_ms', labels: { route: '/late' }, ts: [T0 + 69_000], values: [1] });
    await same({ series: 'api.latency_ms', labels: { route: '/late' }, ts: [T0 + 60_000, T0 + 59_500, T0 + 70_000], values: [2, 3, 4] });
    const late = { series: 'api.latency_ms', labels: { route: '/late' }, ts: [T0 + 65_000, T0 + 59_999], values: [5, 6] };
    const columnar = await m.ingest(late, 'acme');
    expect(columnar.status).toBe(422);
    expect(columnar.json.error.code).toBe(ErrorCode.TimestampTooLate.code);
    expect(await m.ingest({ points: rowsOf(late) }, 'acme')).toEqual(columnar);
    expect(await m.ingest({ blocks: [late] }, 'acme')).toEqual(columnar);
  });

  it('stores several blocks of one body as their rows, a later block of a store checked against the earlier ones', async () => {
    const blocks: Block[] = [
      { series: 'api.latency_ms', labels: { route: '/multi' }, ts: [T0 + 66_000, T0 + 67_000], values: [1, 2] },
      { series: 'queue.depth', values: [5, 6] },
      { series: 'api.latency_ms', labels: { route: '/multi', platform: 'ios' }, ts: [T0 + 68_000], values: [3] },
      // The store of the first block again: 8 s behind its newest point (lateness 10 s), then ahead.
      { series: 'api.latency_ms', labels: { route: '/multi' }, ts: [T0 + 59_500, T0 + 69_000], values: [4, 5] },
      { series: 'jobs.done', labels: { queue: 'multi' }, values: [] },
    ];
    const blocked = await m.ingest({ blocks }, 'acme');
    expect(blocked).toEqual({ status: 200, json: { accepted: 7 } });
    expect(await m.ingest({ points: rowsOf(...blocks) }, 'other')).toEqual(blocked);
    for (const [series, labels] of [
      ['api.latency_ms', { route: '/multi' }],
      ['api.latency_ms', { route: '/multi', platform: 'ios' }],
      ['queue.depth', {}],
    ] as const)
      expect(await everything('acme', series, labels)).toEqual(await everything('other', series, labels));
  });

  it('refuses several blocks as their rows: the problems indexed across the blocks, nothing written', async () => {
    const now = T0 + 70_000;
    const cases: Block[][] = [
      [
        { series: 'queue.depth', ts: [now], values: [1] },
        { series: 'queue.depth', ts: [now, now], values: [2, 'x'] },
      ],
      // The second block's store was moved on by the first: its point is 10.5 s behind it.
      [
        { series: 'api.latency_ms', labels: { route: '/multi-late' }, ts: [now - 5000, now], values: [1, 1] },
        { series: 'api.latency_ms', labels: { route: '/multi-late' }, ts: [now - 10_500], values: [2] },
      ],
      [
        { series: 'queue.depth', ts: [now], values: [1] },
        { series: 'api.nope', values: [1] },
        { series: 'queue.depth', values: [null, 1] },
      ],
      [
        { series: 'queue.depth', ts: Array.from({ length: 60 }, () => now), values: Array.from({ length: 60 }, () => 1) },
        { series: 'queue.depth', ts: Array.from({ length: 41 }, () => now), values: Array.from({ length: 41 }, () => 1) },
      ],
    ];
    const before = await everything('acme', 'queue.depth');
    for (const blocks of cases) {
      const blocked = await m.ingest({ blocks }, 'acme');
      expect(blocked.status, JSON.stringify(blocks).slice(0, 200)).toBeGreaterThanOrEqual(400);
      expect(await m.ingest({ points: rowsOf(...blocks) }, 'acme')).toEqual(blocked);
    }
    expect(await everything('acme', 'queue.depth')).toEqual(before);
    for (const r of await everything('acme', 'api.latency_ms', { route: '/multi-late' })) expect(r.count.every((c: number) => c === 0)).toBe(true);
  });

  it('refuses bad points with the answer of the general path, writing nothing', async () => {
    const now = T0 + 70_000;
    const bad: Block[] = [
      { series: 'queue.depth', ts: [now], values: ['5'] },
      { series: 'queue.depth', ts: [now, now], values: [1, null] },
      { series: 'queue.depth', ts: [now, now, now], values: [1, true, {}] },
      { series: 'queue.depth', ts: [now - 1000, now + 0.5], values: [1, 2] },
      { series: 'queue.depth', ts: [-1, now], values: [1, 2] },
      { series: 'queue.depth', ts: [now, 2 ** 53], values: [1, 2] },
      { series: 'queue.depth', ts: [now, String(now)], values: [1, 2] },
      { series: 'queue.depth', ts: [now, null], values: [1, 2] },
      { series: 'queue.depth', ts: [now, now + 5001], values: [1, 2] },
      { series: 'queue.depth', ts: [now, now - 10_001], values: [1, 2] },
      { series: 'queue.depth', ts: [now - 3_600_000, now], values: [1, 2] },
      { series: 'queue.depth', values: [1, 2, 'x', 4, null] },
      { series: 'queue.depth', ts: [now, now - 20_000, now - 30_000, now + 9000], values: [1, 2, 3, 4] },
      { series: 'api.latency', ts: [now], values: [1] },
      { series: 'api.latency_ms', labels: { host: 'a' }, ts: [now], values: [1] },
      { series: 'api.latency_ms', labels: { route: 'x'.repeat(129) }, ts: [now], values: [1] },
      { series: 'queue.depth', ts: Array.from({ length: 101 }, () => now), values: Array.from({ length: 101 }, () => 1) },
      { series: 'queue.depth', ts: [now, now], values: [1] },
    ];
    const before = await everything('acme', 'queue.depth');
    for (const block of bad) {
      const columnar = await m.ingest(block, 'acme');
      expect(columnar.status, JSON.stringify(block).slice(0, 200)).toBeGreaterThanOrEqual(400);
      // Rows where the block can be written as rows (the last one's ts and values differ in length).
      const reference = block.ts && block.ts.length !== block.values.length ? { blocks: [block] } : { points: rowsOf(block) };
      expect(await m.ingest(reference, 'acme')).toEqual(columnar);
    }
    const many = await m.ingest({ series: 'queue.depth', values: Array.from({ length: 100 }, (_, i) => (i % 2 ? 'x' : 1)) }, 'acme');
    expect(many.json.error.data.refused).toBe(50);
    expect(many.json.error.data.problems[0]).toEqual({ index: 1, code: ErrorCode.InvalidMetricValue.code, reason: 'the value is not a finite number' });
    expect(await everything('acme', 'queue.depth')).toEqual(before);
  });

  it('refuses bodies of the wrong shape as it always did', async () => {
    const now = T0 + 70_000;
    const cases: Array<[unknown, string]> = [
      [{ series: 1, values: [1] }, 'body.series: Invalid input: expected string, received number'],
      [{ series: 'queue.depth', values: 1 }, 'body.values: Invalid input: expected array, received number'],
      [{ series: 'queue.depth', ts: now, values: [1] }, 'body.ts: Invalid input: expected array, received number'],
      [{ series: 'queue.depth', values: [1], extra: 1 }, 'body: Unrecognized key: "extra"'],
      [{ series: 'queue.depth', labels: { route: 1 }, values: [1] }, 'body.labels.route: Invalid input: expected string, received number'],
      [{ series: 'queue.depth', labels: [], values: [1] }, 'body.labels: Invalid input: expected record, received array'],
      [{ series: 'queue.depth', ts: [now] }, 'body.values: Invalid input: expected array, received undefined'],
      [{ values: [1] }, 'body.series: Invalid input: expected string, received undefined'],
      [{ series: 'queue.depth', ts: [now, now], values: [1] }, 'ts has 2 entries and values 1'],
    ];
    for (const [body, message] of cases) {
      const res = await m.ingest(body, 'acme');
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error).toMatchObject({ code: ErrorCode.BadRequest.code, message: `bad request: ${message}` });
    }
    // A label key __proto__ stays an own key of the parsed body, and is refused.
    const res = await fetch(`${m.s.httpUrl}/api/v1/metrics/points`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.s.tenantKeys.acme}`, 'content-type': 'application/json' },
      body: `{"series":"api.latency_ms","labels":{"__proto__":"x"},"values":[1]}`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Answer).error.message).toBe('bad request: body.labels: a label key is not __proto__');
  });
});
