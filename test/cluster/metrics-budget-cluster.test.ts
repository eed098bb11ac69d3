import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { dropPrefix } from './drop-prefix.js';

/**
 * The tenant's metric ingest budget across two nodes on one Redis: both nodes take from one
 * bucket per tenant, so two nodes together allow `metrics.ingestRate`, not twice it. The rate
 * is 1 point/s with a bucket of 400 points (one batch of `maxPoints`), so nothing refills
 * meaningfully while the test runs.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('metric ingest budget across two nodes (Redis engine)', () => {
  const prefix = `sbbudget-${randomBytes(4).toString('hex')}`;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    const config = {
      redis: REDIS_URL,
      redisPrefix: prefix,
      metrics: { series: { 'queue.depth': { kind: 'gauge' } }, ingestRate: 1, maxPoints: 400 },
    };
    a = await startTestServer(config as never);
    b = await startTestServer(config as never);
  }, 30_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await dropPrefix(REDIS_URL, prefix);
  });

  const ingest = (s: TestServer, tenant: string, n: number) =>
    fetch(`${s.httpUrl}/api/v1/metrics/points`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.tenantKeys[tenant]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ points: Array.from({ length: n }, (_, i) => ({ series: 'queue.depth', value: i })) }),
    });

  it('a batch on node B is refused (429 / 145) once node A spent most of the tenant budget; another tenant is untouched', async () => {
    const first = await ingest(a, 'acme', 300);
    expect(first.status, await first.text()).toBe(200);
    // 100 points left in the tenant's one bucket: per-node budgets would let B take 300
    const second = await ingest(b, 'acme', 300);
    expect(second.status).toBe(429);
    const { error } = (await second.json()) as { error: { code: number; temporary: boolean } };
    expect(error).toMatchObject({ code: 145, temporary: true });
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(100);
    // what is left still goes through, on either node, and then nothing more
    const rest = await ingest(b, 'acme', 90);
    expect(rest.status, await rest.text()).toBe(200);
    expect((await ingest(a, 'acme', 50)).status).toBe(429);
    // another tenant's bucket is its own
    const other = await ingest(b, 'demo', 300);
    expect(other.status, await other.text()).toBe(200);
  });
});
