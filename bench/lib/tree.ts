/**
 * The build under test: the test-cluster helpers of a checkout (its `startNode` spawns that
 * checkout's server build), so one harness measures the code before and after a change.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export type ClusterModule = typeof import('../../test/cluster/cluster.js');

/** A Redis URL the bench may use: only one on this machine. */
export function localRedis(url: string): string {
  if (!/^redis:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url)) throw new Error('--redis: only a Redis on 127.0.0.1');
  return url;
}

/** Load `<tree>/test/cluster/cluster.ts` with its nodes, key cleanup and admin helpers pointed at `redisUrl`. */
export async function loadCluster(tree: string, redisUrl: string): Promise<ClusterModule> {
  // Read once when the module loads (REDIS_URL), so set before importing it.
  process.env['REDIS_URL'] = redisUrl;
  return (await import(pathToFileURL(join(tree, 'test/cluster/cluster.ts')).href)) as ClusterModule;
}

/** Short git revision of the checkout, or '?'. */
export function revisionOf(tree: string): string {
  try {
    return execFileSync('git', ['-C', tree, 'rev-parse', '--short', 'HEAD']).toString().trim();
  } catch {
    return '?';
  }
}
