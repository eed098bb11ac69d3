import { ErrorCode } from '@switchboard/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { CANARY, expectClosed, hostileServer, replyError, TENANT_A, TENANT_B } from './harness.js';
import type { WireClient } from './wire.js';

/**
 * Metric points over the socket under attack. Tenant B ('other') pushes a canary label value
 * and a canary-sized value into the series tenant A uses too; tenant A, with the ingest
 * capability on every series, sends malformed, oversized and prototype-named input, names
 * B's label sets, and reads them back over HTTP. Every refusal is typed, nothing of a refused
 * batch is written, the server stays healthy (checked after every test by the harness), and
 * no frame or answer A receives holds a canary byte.
 */

const E = ErrorCode;
const SERIES = { 'web.lcp_ms': { kind: 'distribution', labels: ['page'] }, 'web.fps': { kind: 'gauge' } };
const INGEST = { 'metrics:*': ['ingest'] };
const B_LABELS = { page: CANARY };

describe('hostile metric ingest', () => {
  const ctx = hostileServer({ metrics: { series: SERIES, maxPoints: 500 } });
  let mallory: WireClient;
  const answers: string[] = [];

  /** Points of a label set over every resolution, as tenant A's key reads them (its answers kept for the canary scan). */
  const held = async (labels: Record<string, string>, tenant = TENANT_A): Promise<number> => {
    const q = new URLSearchParams({ series: 'web.lcp_ms', labels: JSON.stringify(labels), resolution: '1m', stats: 'count,max' });
    const res = await fetch(`${ctx().s.httpUrl}/api/v1/metrics/query?${q}`, { headers: { authorization: `Bearer ${ctx().s.tenantKeys[tenant]}` } });
    const text = await res.text();
    if (tenant !== TENANT_B) answers.push(text);
    expect(res.status).toBe(200);
    return (JSON.parse(text).count as number[]).reduce((a, b) => a + b, 0);
  };

  beforeAll(async () => {
    const b = await ctx().connect('bob-metrics', { tenant: TENANT_B, caps: INGEST });
    expect(await b.call('metrics.push', { points: [{ series: 'web.lcp_ms', labels: B_LABELS, value: 777_777.5 }] })).toMatchObject({ result: { accepted: 1 } });
    expect(await held(B_LABELS, TENANT_B)).toBe(1);
    mallory = await ctx().connect('mallory', { caps: INGEST });
  });

  it("B's label set, named by A, reads as empty and A's own push of it lands in A only", async () => {
    expect(await held(B_LABELS)).toBe(0);
    expect(await mallory.call('metrics.push', { points: [{ series: 'web.lcp_ms', labels: B_LABELS, value: 1 }] })).toMatchObject({ result: { accepted: 1 } });
    expect(await held(B_LABELS)).toBe(1);
    expect(await held(B_LABELS, TENANT_B)).toBe(1);
    for (const text of answers) expect(text).not.toContain('777777');
  });

  it('malformed params answer 107 and write nothing', async () => {
    const bad: unknown[] = [
      null,
      [],
      'points',
      { points: null },
      { points: 'x' },
      { points: [null] },
      { points: [[]] },
      { points: [{ series: 1, value: 1 }] },
      { points: [{ series: 'web.fps', value: 1, tenant: TENANT_B }] },
      { points: [{ series: 'web.fps', labels: [], value: 1 }] },
      { points: [{ series: 'web.lcp_ms', labels: { page: { toString: 'x' } }, value: 1 }] },
      // The columnar blocks the SDK sends: the same strictness.
      { blocks: null },
      { blocks: [null] },
      { blocks: [{ series: 'web.fps' }] },
      { blocks: [{ series: 'web.fps', values: {} }] },
      { blocks: [{ series: 'web.fps', values: [1], tenant: TENANT_B }] },
      { blocks: [{ series: 'web.fps', values: [1], ts: 'x' }] },
      { blocks: [{ series: 'web.fps', values: [1, 2], ts: [1] }] },
      { blocks: [{ series: 'web.lcp_ms', labels: [], values: [1] }] },
      { points: [], blocks: [] },
    ];
    for (const params of bad) expect(replyError(await mallory.call('metrics.push', params)).code, JSON.stringify(params)).toBe(E.BadRequest.code);
  });

  it('hostile values and timestamps are typed refusals of the whole batch', async () => {
    const canary = { page: '/hostile-values' };
    const cases: Array<[unknown, unknown, number]> = [
      [{ valueOf: 1 }, undefined, E.InvalidMetricValue.code],
      [[1], undefined, E.InvalidMetricValue.code],
      [true, undefined, E.InvalidMetricValue.code],
      ['1e400', undefined, E.InvalidMetricValue.code],
      [1, '1700000000000', E.InvalidTimestamp.code],
      [1, { valueOf: 1 }, E.InvalidTimestamp.code],
      [1, 1e300, E.InvalidTimestamp.code],
      [1, Number.MAX_SAFE_INTEGER, E.TimestampTooEarly.code],
    ];
    for (const [value, ts, code] of cases) {
      const points = [
        { series: 'web.lcp_ms', labels: canary, value: 1 },
        { series: 'web.lcp_ms', labels: canary, value, ...(ts === undefined ? {} : { ts }) },
      ];
      const frame = await mallory.call('metrics.push', { points });
      expect(replyError(frame).code, JSON.stringify(points[1])).toBe(code);
    }
    // A number beyond double range arrives as Infinity: not a finite number, never stored.
    mallory.text('{"id":9001,"method":"metrics.push","params":{"points":[{"series":"web.fps","value":1e400}]}}');
    expect(replyError(await mallory.reply(9001)).code).toBe(E.InvalidMetricValue.code);
    mallory.text('{"id":9002,"method":"metrics.push","params":{"blocks":[{"series":"web.lcp_ms","labels":{"page":"/hostile-values"},"values":[1,1e400]}]}}');
    expect(replyError(await mallory.reply(9002))).toMatchObject({ code: E.InvalidMetricValue.code, data: { problems: [{ index: 1 }] } });
    expect(await held(canary)).toBe(0);
  });

  it('prototype-named label keys and series are unknown, never inherited', async () => {
    // JSON.parse makes __proto__ an own key; a copy into a plain object would drop it, so it is refused outright.
    mallory.text('{"id":9100,"method":"metrics.push","params":{"points":[{"series":"web.lcp_ms","labels":{"__proto__":"x"},"value":1}]}}');
    expect(replyError(await mallory.reply(9100)).code).toBe(E.BadRequest.code);
    mallory.text('{"id":9101,"method":"metrics.push","params":{"blocks":[{"series":"web.lcp_ms","labels":{"__proto__":"x"},"values":[1]}]}}');
    expect(replyError(await mallory.reply(9101)).code).toBe(E.BadRequest.code);
    const http = await fetch(`${ctx().s.httpUrl}/api/v1/metrics/points`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx().s.tenantKeys[TENANT_A]}`, 'content-type': 'application/json' },
      body: '{"points":[{"series":"web.lcp_ms","labels":{"__proto__":"x"},"value":1}]}',
    });
    expect(http.status).toBe(400);
    expect((await http.json()).error.code).toBe(E.BadRequest.code);
    expect(await held({})).toBe(0);
    for (const key of ['constructor', 'toString', 'hasOwnProperty', 'prototype']) {
      const frame = await mallory.call('metrics.push', { points: [{ series: 'web.lcp_ms', labels: { [key]: 'x' }, value: 1 }] });
      expect(replyError(frame).code, key).toBe(E.UnknownLabel.code);
    }
    for (const series of ['__proto__', 'constructor', 'toString', 'web.lcp_ms\u0000', ' web.lcp_ms', 'WEB.LCP_MS', 'x'.repeat(10_000)])
      expect(replyError(await mallory.call('metrics.push', { points: [{ series, value: 1 }] })).code, series.slice(0, 20)).toBe(E.UnknownSeries.code);
  });

  it('a batch over the point cap answers 106; a message over the size limit closes only that connection', async () => {
    const many = Array.from({ length: 501 }, () => ({ series: 'web.fps', value: 1 }));
    expect(replyError(await mallory.call('metrics.push', { points: many })).code).toBe(E.LimitExceeded.code);
    const greedy = await ctx().connect('greedy', { caps: INGEST });
    greedy.text(
      JSON.stringify({ id: 1, method: 'metrics.push', params: { points: [{ series: 'web.lcp_ms', labels: { page: 'x'.repeat(70_000) }, value: 1 }] } }),
    );
    await expectClosed(greedy, 1009);
    expect(await mallory.call('metrics.push', { points: [{ series: 'web.fps', value: 2 }] })).toMatchObject({ result: { accepted: 1 } });
  });

  it('without the ingest capability every series answers 103, declared or not', async () => {
    const eve = await ctx().connect('eve', { caps: { 'metrics:*': ['subscribe', 'publish'], '*': ['subscribe'] } });
    for (const series of ['web.lcp_ms', 'web.fps', 'no.such.series'])
      expect(replyError(await eve.call('metrics.push', { points: [{ series, value: 1 }] })).code).toBe(E.PermissionDenied.code);
  });
});
