import { metrics } from '@switchboard/client/metrics';
import { ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MetricsServer, pointsHeld, refusal, sdkClients, startMetricsServer } from './helpers.js';

/**
 * The ingest budget of a tenant (`metrics.ingestRate` points/s): beyond it a batch is refused
 * whole with 145, temporary, with the delay until it would fit — over the socket and HTTP
 * alike (429 and Retry-After) — and nothing of it is written. The budget refills with the
 * server's clock, a manual one: the test moves it instead of waiting.
 */

const INGEST = { 'metrics:*': ['ingest'] };

describe('the ingest budget of a tenant', () => {
  let m: MetricsServer;
  let sdk: ReturnType<typeof sdkClients>;

  beforeAll(async () => {
    m = await startMetricsServer({ ingestRate: 100, maxPoints: 100 });
    sdk = sdkClients(m);
  });
  afterAll(async () => {
    sdk?.close();
    await m?.s.close();
  });

  const rows = (n: number, route: string) => Array.from({ length: n }, (_, i) => ({ series: 'api.latency_ms', labels: { route }, value: i }));

  it('refuses a batch beyond it whole, temporary with a retry delay, over the socket and HTTP; another tenant is not held back', async () => {
    const c = await sdk.connected(INGEST);
    // 100 points/s, holding one second: 60 + 40 fit, then nothing until the clock moves.
    expect(await c.call('metrics.push', { points: rows(60, '/in-budget') })).toEqual({ accepted: 60 });
    expect((await m.ingest({ points: rows(40, '/in-budget') })).json).toEqual({ accepted: 40 });

    const socket = await refusal(c.call('metrics.push', { points: rows(5, '/over-budget') }));
    expect(socket).toMatchObject({ code: ErrorCode.IngestRateLimited.code, temporary: true });
    expect(socket.retryAfter).toBe(50); // 5 points at 100/s
    const res = await fetch(`${m.s.httpUrl}/api/v1/metrics/points`, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.s.tenantKeys['acme']}`, 'content-type': 'application/json' },
      body: JSON.stringify({ points: rows(10, '/over-budget') }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await res.json()).error).toMatchObject({ code: ErrorCode.IngestRateLimited.code, temporary: true, retryAfter: 100 });
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/over-budget' })).toBe(0);
    expect(await pointsHeld(m, 'api.latency_ms', { route: '/in-budget' })).toBe(100);

    // Another tenant has a budget of its own.
    const other = await sdk.connected(INGEST, 'other');
    expect(await other.call('metrics.push', { points: rows(100, '/other') })).toEqual({ accepted: 100 });
  });

  it('rejects every SDK push of a refused batch with 145 and its retry delay; after the delay the same pushes are accepted', async () => {
    const c = await sdk.connected(INGEST, 'demo');
    expect(await c.call('metrics.push', { points: rows(100, '/spent') })).toEqual({ accepted: 100 });
    // The flush window (50 ms on the same clock) gives back 5 points: 2 fit, 3 are left.
    const push = metrics(c, { timers: m.clock.timers });
    const fits = [push.push('queue.depth', 1), push.push('queue.depth', 2)];
    m.clock.advance(50);
    await Promise.all(fits);
    // 3 + 5 points at the end of the next window: 12 short of 20, 120 ms at 100/s.
    const over = Array.from({ length: 20 }, (_, i) => push.push('queue.depth', i));
    m.clock.advance(50);
    for (const err of await Promise.all(over.map(refusal)))
      expect(err).toMatchObject({ code: ErrorCode.IngestRateLimited.code, temporary: true, retryAfter: 120 });
    expect(await pointsHeld(m, 'queue.depth', {}, 'demo')).toBe(2);
    m.clock.advance(120);
    const later = Array.from({ length: 20 }, (_, i) => push.push('queue.depth', i));
    m.clock.advance(50);
    await Promise.all(later);
    expect(await pointsHeld(m, 'queue.depth', {}, 'demo')).toBe(22);
  });
});
