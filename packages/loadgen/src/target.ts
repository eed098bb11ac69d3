import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildRegistry } from './children.js';
import { BenchFailure } from './failure.js';

/** The server a run measures: where it listens, how to authenticate, and its pid when known. */
export interface BenchServer {
  url: string;
  httpUrl: string;
  secret: string;
  apiKey: string | undefined;
  pid: number | undefined;
  spawned: boolean;
  /** Where the started server stores its data: `sqlite`, `postgres` (a fresh schema), or `unknown` for a server started elsewhere. */
  storage: 'sqlite' | 'postgres' | 'unknown';
  /** Graceful: SIGTERM, then SIGKILL after 5 s; removes the temporary data directory. */
  stop(): Promise<void>;
  /** At once (on SIGINT / SIGTERM of the bench): SIGKILL by pid, remove the data directory. */
  kill(): void;
}

/**
 * What the load generator needs of the Switchboard installation it starts: the compiled
 * CLI, and the two pieces of its configuration it cannot know by itself. Given by
 * `switchboard bench`, so this package never imports the server.
 */
export interface ServerHost {
  /** Absolute path of the compiled `switchboard` CLI (`…/dist/cli/main.js`), run as `node <cliMain> serve …`. */
  cliMain: string;
  /** Store a new admin API key in a data directory the server will use; returns the key. */
  createApiKey(dataDir: string): string;
  /** The default namespaces of the configuration, as `--namespaces` takes them. */
  defaultNamespaces(): Record<string, object>;
  /**
   * Create a fresh schema in the PostgreSQL database at `url`: the `--database` URL that
   * uses it (search_path) and how to drop it. Absent where PostgreSQL is not available.
   */
  postgresSchema?(url: string): Promise<{ database: string; schema: string; drop(): Promise<void> }>;
}

export interface OwnServerOptions {
  namespace: string;
  /** Publications kept per channel of the bench namespace (recovery after a long storm needs many). */
  historySize: number;
  /** Extra `serve` flags, `--name=value`. */
  extraFlags: string[];
  startTimeoutMs: number;
  /** SQLite in the data directory, or a fresh schema of the PostgreSQL database at `postgresUrl`. */
  storage?: 'sqlite' | 'postgres';
  postgresUrl?: string;
}

/**
 * Limits raised for load (the defaults are tuned against hostile clients, e.g. 50 new
 * connections per IP per second), the same ones bench/servers/switchboard.mjs raises.
 */
const LOAD_LIMITS: Record<string, number> = {
  'connections-per-user': 1_000_000,
  'connections-per-tenant': 10_000_000,
  'new-connections-per-ip-per-second': 1_000_000,
  'publish-per-second-per-connection': 1_000_000,
  'events-per-minute-per-user': 100_000_000,
  'commands-per-second': 1_000_000,
  'signals-per-second': 100_000,
  'max-presence-members': 1_000_000,
  'max-recovery': 100_000,
};

/** The default namespaces with the bench namespace's history enlarged, as the JSON `--namespaces` takes. */
function namespacesJson(host: ServerHost, namespace: string, historySize: number): string {
  const namespaces: Record<string, object> = { ...host.defaultNamespaces() };
  namespaces[namespace] = { ...(namespaces[namespace] ?? {}), historySize, historyTtl: '10m' };
  return JSON.stringify(namespaces);
}

/**
 * Start `switchboard serve` as a child process (the host's compiled CLI) on a
 * free 127.0.0.1 port, with a temporary data directory, a generated HMAC secret (passed in
 * the environment, not on the command line) and an admin API key created beforehand.
 */
export async function startOwnServer(host: ServerHost, opts: OwnServerOptions, registry: ChildRegistry): Promise<BenchServer> {
  let pgSchema: { database: string; drop(): Promise<void> } | undefined;
  if (opts.storage === 'postgres') {
    if (!host.postgresSchema) throw new BenchFailure('this installation cannot create PostgreSQL schemas (--storage postgres)');
    const url = opts.postgresUrl ?? '';
    pgSchema = await host.postgresSchema(url).catch((err: unknown) => {
      throw new BenchFailure(`could not create a schema in PostgreSQL at ${url.replace(/\/\/[^@/]*@/, '//…@')}: ${(err as Error).message}`);
    });
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
  const secret = randomBytes(32).toString('base64url');
  const apiKey = host.createApiKey(dataDir);
  const main = host.cliMain;
  const guard = new URL('./orphan-guard.js', import.meta.url).href;
  const flags = [
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--development',
    'false',
    '--log-level',
    'warn',
    ...Object.entries(LOAD_LIMITS).flatMap(([k, v]) => [`--limits.${k}`, String(v)]),
    '--namespaces',
    namespacesJson(host, opts.namespace, opts.historySize),
    ...(pgSchema ? ['--database', pgSchema.database] : []),
    ...opts.extraFlags,
  ];
  // The configuration comes from the flags above only: none of the caller's SWITCHBOARD_*, DATABASE_URL or REDIS_URL.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_') || k === 'DATABASE_URL' || k === 'REDIS_URL') delete env[k];
  env['SWITCHBOARD_SECRET'] = secret;
  const child = spawn(process.execPath, ['--import', guard, main, ...flags], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  registry.add(child.pid);
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  const dropSchema = async () => {
    await pgSchema?.drop().catch(() => {});
  };

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchFailure(`the server did not start within ${opts.startTimeoutMs} ms: ${output}`)), opts.startTimeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      keep(d);
      const m = /listening on port (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new BenchFailure(`the server exited (${code}) before listening: ${output.trim()}`));
    });
  }).catch(async (err: unknown) => {
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await exited;
    cleanup();
    await dropSchema();
    throw err;
  });
  // Keep reading its logs (warnings only) so a full pipe never blocks it.
  child.stdout.on('data', keep);

  return {
    url: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    secret,
    apiKey,
    pid: child.pid,
    spawned: true,
    storage: pgSchema ? 'postgres' : 'sqlite',
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGTERM');
        const hard = setTimeout(() => {
          if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
        }, 5000);
        await exited;
        clearTimeout(hard);
      }
      registry.delete(child.pid);
      cleanup();
      await dropSchema();
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      cleanup();
      void dropSchema();
    },
  };
}

export interface ExistingServerOptions {
  url: string;
  httpUrl: string | undefined;
  secret: string;
  apiKey: string | undefined;
  pid: number | undefined;
}

/** A server started elsewhere: `--url ws://…/ws --secret S [--http-url …] [--api-key K] [--server-pid P]`. */
export function existingServer(opts: ExistingServerOptions): BenchServer {
  const httpUrl = opts.httpUrl ?? opts.url.replace(/^ws/, 'http').replace(/\/ws\/?$/, '');
  return {
    url: opts.url,
    httpUrl,
    secret: opts.secret,
    apiKey: opts.apiKey,
    pid: opts.pid,
    spawned: false,
    storage: 'unknown',
    stop: async () => {},
    kill: () => {},
  };
}
