/**
 * New connections while Redis is away from a node (through the test's own proxy; the
 * machine's Redis is never touched): `connect` is refused with the temporary 116, not the
 * internal 100, the node logs the outage once rather than a stack per attempt, and
 * connections are accepted again once Redis is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, newPrefix, readyz, startNode, stopAll, token } from './cluster.js';
import { RedisProxy } from './redis-proxy.js';

/** The node's JSON log lines (pino) from index `from` of its output on. */
function logLines(node: ClusterNode, from = 0): Array<Record<string, unknown>> {
  return node.output
    .slice(from)
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const count = (lines: Array<Record<string, unknown>>, msg: string) => lines.filter((l) => l['msg'] === msg).length;

describe('connect while Redis is down', () => {
  const prefix = newPrefix('connect-outage');
  const clients: RawClient[] = [];
  let proxy: RedisProxy;
  let node: ClusterNode;

  async function connectOnce(user: string): Promise<RawClient> {
    const c = await RawClient.open(node.url);
    clients.push(c);
    await c.call('connect', { token: await token(user) });
    return c;
  }

  beforeAll(async () => {
    proxy = await RedisProxy.start();
    // Info level, so the "ready again" lines are in the output too.
    node = await startNode('solo', { prefix, redisUrl: proxy.url, config: { logLevel: 'info' } });
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await stopAll([node]);
    await proxy.close();
    await dropPrefix(prefix);
  }, 30_000);

  it('refuses connect with a temporary 116 and no stack per attempt, logs the outage once, accepts again when Redis is back', async () => {
    const before = await connectOnce('before');
    expect(before.frames[0]?.result?.['user']).toBe('before');

    proxy.cut();
    await eventually(async () => (await readyz(node)) === 503, 15_000, '/readyz 503');
    const mark = node.output.length;
    const attempts = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((u) => connectOnce(`during-${u}`)));
    for (const c of attempts) {
      expect(c.frames[0]?.error).toMatchObject({ code: 116, temporary: true });
      expect(c.closeCode).toBeNull();
    }
    const http = await api(node, 'GET', '/channels/project:outage/history');
    expect(http.status).toBe(503);
    expect(http.body['error']).toMatchObject({ code: 116, temporary: true });
    const during = logLines(node, mark);
    expect(during.filter((l) => (l['level'] as number) >= 40 && JSON.stringify(l).includes('"stack"'))).toEqual([]);
    expect(count(during, 'command failed')).toBe(0);

    proxy.restore();
    await eventually(async () => (await readyz(node)) === 200, 20_000, '/readyz 200');
    const after = await connectOnce('after');
    expect(after.frames[0]?.result?.['user']).toBe('after');

    // Once down and once back, per Redis connection of the node (commands, pub/sub).
    expect(count(logLines(node), 'redis connection lost; reconnecting')).toBe(2);
    const ready = logLines(node, mark).filter((l) => l['msg'] === 'redis connection ready');
    expect(ready.map((l) => l['role']).sort()).toEqual(['cmd', 'sub']);
  }, 60_000);
});
