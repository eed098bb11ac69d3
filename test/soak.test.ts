import { mintToken } from '@switchboard/server';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './helpers/server.js';
import { runSoak } from './long/soak.js';

describe('churn soak (short variant of test/long/soak.ts)', () => {
  it('returns every gauge to zero and handles to baseline after connect/subscribe/presence/drop churn', async () => {
    const s = await startTestServer({ limits: { newConnectionsPerIpPerSecond: 10000, connectionsPerUser: 1000 } });
    const result = await runSoak({
      server: s.server,
      url: s.url,
      rate: 100,
      durationMs: 4000,
      channels: 10,
      token: (sub) => mintToken(s.server.secret as string, { sub, tenant: 'soak', caps: { 'project:*': ['subscribe', 'publish', 'presence'] } }),
    });
    await s.close();
    expect(result.cycles).toBeGreaterThan(300);
    expect(result.failures).toBe(0);
    expect(result.end).toMatchObject({ connections: 0, subscriptions: 0, channels: 0, timers: 0, presence: 0 });
    expect(result.end.handles).toBeLessThanOrEqual(result.baseline.handles + 2);
  });
});
