import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createStoredApiKey } from '../auth/key-files.js';
import { createError } from '../errors/sb-error.js';
import { configSchema } from '../features/builtin.js';
import type { ParsedArgs } from './args.js';

type Loadgen = typeof import('@switchboard/loadgen');

/**
 * The load generator lives in its own package (@switchboard/loadgen), loaded only when
 * `switchboard bench` runs: the server library neither ships nor loads it.
 */
async function loadgen(): Promise<Loadgen> {
  try {
    return await import('@switchboard/loadgen');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' || !String((err as Error).message).includes('@switchboard/loadgen')) throw err;
    throw createError(
      'SB_ERR_LOADGEN_MISSING',
      'switchboard bench needs the load generator package @switchboard/loadgen, which is not installed here (it comes with the Switchboard repository: npm ci && npm run build)',
    );
  }
}

const host = {
  cliMain: fileURLToPath(new URL('./main.js', import.meta.url)),
  createApiKey: (dataDir: string) => createStoredApiKey(dataDir, null).key,
  defaultNamespaces: () => configSchema.parse({}).namespaces as Record<string, object>,
  /** A fresh schema `sb_bench_…` for one run (`--storage postgres`), dropped with everything in it at the end. */
  async postgresSchema(url: string) {
    const schema = `sb_bench_${randomBytes(5).toString('hex')}`;
    const run = async (statement: string) => {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(statement);
      } finally {
        await admin.end();
      }
    };
    await run(`CREATE SCHEMA ${schema}`);
    const database = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    return { database, schema, drop: () => run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
  },
  /** A fresh key prefix `sb-bench-…` for the nodes of one run (`--nodes`); every key under it is deleted at the end. */
  async redisPrefix(url: string) {
    const prefix = `sb-bench-${randomBytes(5).toString('hex')}`;
    const connect = async () => {
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null });
      await redis.connect();
      return redis;
    };
    const redis = await connect();
    await redis.ping().finally(() => redis.disconnect());
    const drop = async () => {
      const admin = await connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          if (keys.length) await admin.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        admin.disconnect();
      }
    };
    return { prefix, drop };
  },
};

/** `switchboard bench --help`, or the options of one scenario. */
export async function benchHelp(args: ParsedArgs): Promise<string> {
  return (await loadgen()).benchHelp(args);
}

/** `switchboard bench <scenario> [options]`: a bad argument is SB_ERR_CLI_ARGS (exit status 2). */
export async function bench(args: ParsedArgs, out: (text: string) => void): Promise<void> {
  const lg = await loadgen();
  try {
    await lg.bench(args, out, host);
  } catch (err) {
    if (err instanceof lg.BenchUsageError) throw createError('SB_ERR_CLI_ARGS', err.message);
    throw err;
  }
}
