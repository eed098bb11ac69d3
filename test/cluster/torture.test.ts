/**
 * The recovery torture on three server processes sharing one Redis (the short variant of
 * test/long/torture.ts): SDK clients dropped at random reconnect to a random node while
 * publications arrive through the HTTP API of a random node, so every recovery reads the
 * shared stream and every publication is numbered by the one-key publish path from any node.
 * Each client must end with every offset exactly once, in order, every recovery exact.
 */
import { mintToken } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTorture } from '../long/torture.js';
import { ADMIN_KEY, type ClusterNode, dropPrefix, newPrefix, SECRET, startCluster, stopAll } from './cluster.js';

describe('recovery torture on three Redis nodes', () => {
  const prefix = newPrefix('torture');
  let nodes: ClusterNode[] = [];

  beforeAll(async () => {
    nodes = await startCluster(['ta', 'tb', 'tc'], {
      prefix,
      config: { namespaces: { project: { historySize: 5000 } }, limits: { newConnectionsPerIpPerSecond: 10_000, maxRecovery: 5000 } },
    });
  }, 30_000);

  afterAll(async () => {
    await stopAll(nodes);
    await dropPrefix(prefix);
  }, 30_000);

  it('delivers every publication exactly once and in order to clients dropped at random and reconnecting to any node', async () => {
    const result = await runTorture({
      urls: nodes.map((n) => n.url),
      httpUrls: nodes.map((n) => n.httpUrl),
      apiKey: ADMIN_KEY,
      tenant: 'acme',
      token: (sub) => mintToken(SECRET, { sub, tenant: 'acme', caps: { 'project:*': ['subscribe'] } }),
      clients: 24,
      publications: 1200,
      rate: 300,
      dropEvery: [250, 1500],
      channel: 'project:torture',
      timeout: 60_000,
    });
    expect(result.drops).toBeGreaterThan(20);
    expect(result.recoveredTrue).toBeGreaterThan(0);
    expect(result).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, recoveredFalse: 0, publishFailures: 0 });
    expect(result.delivered).toBe(24 * 1200);
  }, 90_000);
});
