/**
 * Documents that are not stored (`persistence: false`) on a cluster of three server
 * processes sharing the real Redis, with real y-websocket providers: there is no log, so a
 * node that loads such a document late, or misses relays while cut off from Redis, gets
 * the other nodes' content by comparing state vectors with them, and they get its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterNode, dropPrefix, eventually, newPrefix, startNode, stopAll } from './cluster.js';
import { converged, documentProviders, tokens, WAIT, write } from './document-providers.js';
import { RedisProxy } from './redis-proxy.js';

const CAPS = { 'scratch:*': ['subscribe', 'publish', 'presence'] };

describe('documents that are not stored, on a cluster of three nodes', () => {
  const prefix = newPrefix('documents-unstored');
  let proxy: RedisProxy;
  let a: ClusterNode;
  let b: ClusterNode;
  let c: ClusterNode;
  const providers = documentProviders(CAPS);
  const provider = providers.open;
  const series = (name: string, n: number) => Array.from({ length: n }, (_, i) => `${name}-${i}`);

  beforeAll(async () => {
    proxy = await RedisProxy.start();
    const config = {
      limits: { newConnectionsPerIpPerSecond: 100_000 },
      namespaces: { scratch: { documents: { persistence: false }, historySize: 0, clientPublish: false } },
    };
    // c reaches Redis through a proxy the test can cut; a and b directly.
    [a, b, c] = await Promise.all([
      startNode('a', { prefix, config }),
      startNode('b', { prefix, config }),
      startNode('c', { prefix, config, redisUrl: proxy.url }),
    ]);
  }, 60_000);

  afterAll(async () => {
    providers.closeAll();
    await stopAll([a, b, c].filter(Boolean));
    await proxy?.close();
    await dropPrefix(prefix);
  }, 30_000);

  it('a node that loads the document while others hold it gets their content, and later edits on all three converge', async () => {
    const pa = await provider(a, 'scratch:x', 'ann');
    const pb = await provider(b, 'scratch:x', 'bob');
    for (const i of [0, 1, 2, 3, 4]) {
      write(pa, `a-${i}`);
      write(pb, `b-${i}`);
    }
    await converged([pa, pb], 'a and b hold the content');

    const pc = await provider(c, 'scratch:x', 'carl');
    await eventually(() => tokens(pc).length === 10, WAIT, "the content on c's client").catch((err: Error) => {
      throw new Error(`${err.message}: ${tokens(pc).join()}`);
    });
    // Each later edit sits after earlier ones in the text: a node that lacked those could not apply it.
    for (const i of [5, 6, 7]) {
      write(pa, `a-${i}`);
      write(pb, `b-${i}`);
      write(pc, `c-${i}`);
    }
    await converged([pa, pb, pc], 'the three converged');
    expect(tokens(pc)).toEqual([...series('a', 8), ...series('b', 8), 'c-5', 'c-6', 'c-7'].sort());
  }, 60_000);

  it('a node cut off from Redis while clients on it and on another node edit: once it is back, every client on every node has every edit, each once', async () => {
    const pa = await provider(a, 'scratch:y', 'ann');
    const pb = await provider(b, 'scratch:y', 'bob');
    const pc = await provider(c, 'scratch:y', 'carl');
    write(pa, 'before');
    await converged([pa, pb, pc], 'before the cut');

    proxy.cut();
    for (let i = 0; i < 10; i++) write(pa, `a-${i}`);
    for (let i = 0; i < 10; i++) write(pc, `c-${i}`);
    // b got a's edits by relay; the relays to c were lost with its connection.
    await eventually(() => tokens(pb).filter((t) => t.startsWith('a-')).length === 10, WAIT, "b got a's edits");
    expect(tokens(pc).filter((t) => t.startsWith('a-'))).toEqual([]);

    proxy.restore();
    await converged([pa, pb, pc], 'after the cut');
    expect(tokens(pc)).toEqual(['before', ...series('a', 10), ...series('c', 10)].sort());
  }, 60_000);
});
