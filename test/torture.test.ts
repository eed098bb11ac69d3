import { mintToken } from '@switchboard/server';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './helpers/server.js';
import { runTorture } from './long/torture.js';

describe('recovery torture (short variant of test/long/torture.ts)', () => {
  it('delivers every publication exactly once and in order to clients dropped at random while publications flow', async () => {
    const s = await startTestServer({ namespaces: { project: { historySize: 5000 } }, limits: { newConnectionsPerIpPerSecond: 10000, maxRecovery: 5000 } });
    const result = await runTorture({
      urls: [s.url],
      httpUrls: [s.httpUrl],
      apiKey: s.apiKey,
      tenant: 'demo',
      token: (sub) => mintToken(s.server.secret as string, { sub, tenant: 'demo', caps: { 'project:*': ['subscribe'] } }),
      clients: 30,
      publications: 1500,
      rate: 300,
      dropEvery: [250, 1500],
      channel: 'project:torture',
      timeout: 60_000,
    });
    await s.close();
    expect(result.drops).toBeGreaterThan(40);
    expect(result.recoveredTrue).toBeGreaterThan(0);
    expect(result).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, recoveredFalse: 0, publishFailures: 0 });
    expect(result.delivered).toBe(30 * 1500);
  });
});
