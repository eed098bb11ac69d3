// @ts-check
/**
 * Switchboard with its default configuration, except: limits raised for a benchmark
 * (the defaults are tuned for hostile clients), an explicit HMAC secret (the load
 * generator mints its own tokens with it), and logs off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Switchboard } from '@switchboard/server';
import { secretFromEnv, serve } from './harness.mjs';
import { BENCH_LIMITS } from './limits.mjs';

await serve(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
  const server = await Switchboard.create({
    config: {
      host: '127.0.0.1',
      port: 0,
      dataDir,
      // PostgreSQL instead of the SQLite file (bench/documents.ts --database postgres), as a URL.
      ...(process.env['BENCH_DATABASE'] ? { database: process.env['BENCH_DATABASE'] } : {}),
      // The Redis engine under a key prefix of its own, shared by the nodes of one run (bench/documents.ts --nodes N).
      ...(process.env['BENCH_REDIS'] ? { redis: process.env['BENCH_REDIS'], redisPrefix: process.env['BENCH_REDIS_PREFIX'] ?? 'sb' } : {}),
      development: false,
      logLevel: 'silent',
      auth: { secret: secretFromEnv() },
      limits: { ...BENCH_LIMITS },
      // A bench that needs other namespaces (delta-filters.ts) names them, as JSON.
      ...(process.env['BENCH_NAMESPACES'] ? { namespaces: JSON.parse(process.env['BENCH_NAMESPACES']) } : {}),
      // The documents options of a bench that edits documents (documents.ts), as JSON.
      ...(process.env['BENCH_DOCUMENTS'] ? { documents: JSON.parse(process.env['BENCH_DOCUMENTS']) } : {}),
    },
  });
  const { port } = await server.listen();
  return {
    port,
    connections: () => server.node.clients.size,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
