import { resolve } from 'node:path';
import type { ArgReader } from './args.js';

/** The options of a benchmark that runs a tree's cluster build against a Redis (bench/cluster.ts, bench/redis-publish.ts). */
export interface ClusterRunOptions {
  /** The Redis the nodes share (`--redis`); a local one, see `localRedis`. */
  redis: string;
  /** The checkout whose build runs (`--tree`): this one unless given. */
  tree: string;
  /** The run's name in its results (`--label`). */
  label: string;
  /** Where the results are written (`--out`); none when empty. */
  out: string;
  /** Longest wait, in seconds, for a quiet machine before measuring (`--quiet-wait`, at most 600). */
  quietWait: number;
}

export function clusterRunDefaults(label: string): ClusterRunOptions {
  return {
    redis: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    tree: resolve(import.meta.dirname, '..', '..'),
    label,
    out: '',
    quietWait: 60,
  };
}

/** Read `flag` into `o` when it is one of the options above; false when it is not. */
export function readClusterRunFlag(flag: string, args: ArgReader, o: ClusterRunOptions): boolean {
  if (flag === '--redis') o.redis = args.value();
  else if (flag === '--tree') o.tree = resolve(args.value());
  else if (flag === '--label') o.label = args.value();
  else if (flag === '--out') o.out = resolve(args.value());
  else if (flag === '--quiet-wait') o.quietWait = Math.min(600, Number(args.value()) || 0);
  else return false;
  return true;
}
