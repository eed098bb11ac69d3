import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  /** Node 0's pid. */
  pid: number | undefined;
  /** The server processes (`--nodes`), node 0 first; one entry for a server started elsewhere. */
  nodes: readonly BenchNode[];
  spawned: boolean;
  /** Where the started server stores its data: `sqlite`, `postgres` (a fresh schema), or `unknown` for a server started elsewhere. */
  storage: 'sqlite' | 'postgres' | 'unknown';
  /** Graceful: SIGTERM to every node, then SIGKILL after 5 s; removes the data directories, the schema and the Redis keys of the run. */
  stop(): Promise<void>;
  /** At once (on SIGINT / SIGTERM of the bench): SIGKILL by pid, remove the data directories. */
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
  /** A fresh Redis key prefix for one run at `url` (Redis answered), and how to delete every key under it. */
  redisPrefix?(url: string): Promise<{ prefix: string; drop(): Promise<void> }>;
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
  /** Server processes (default 1); with more than one they share Redis at `redisUrl`. */
  nodes?: number;
  /** Redis for the shared engine, under a fresh key prefix (`--nodes` above 1). */
  redisUrl?: string;
  /** Flags for `node` itself, before the CLI (`--cpu-prof`, `--max-old-space-size=…`). */
  nodeFlags?: string[];
  /** Start each node with `--expose-gc` and the heap probe, so `BenchNode.heap()` can read its live heap. */
  heapProbe?: boolean;
}

/** A node's memory after two forced garbage collections (`process.memoryUsage()`), bytes. */
export interface HeapFigures {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
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

/** One `switchboard serve` process of a run, started and watched by the bench. */
export interface BenchNode {
  url: string;
  httpUrl: string;
  pid: number | undefined;
  /** SIGKILL, at once (the locks scenario's kill -9 of a node); resolves once it is gone. */
  kill(): Promise<void>;
  /** Whether it is still running. */
  readonly alive: boolean;
  /** Its live heap after forced GCs; null when it was not started with the heap probe or did not answer within 10 s. */
  heap?(): Promise<HeapFigures | null>;
}

interface NodeProcess extends BenchNode {
  stop(): Promise<void>;
}

/** Start one `serve` process with `flags` and the secret in its environment; resolves once it listens. */
async function spawnNode(
  host: ServerHost,
  flags: string[],
  secret: string,
  startTimeoutMs: number,
  registry: ChildRegistry,
  node: { flags: string[]; heapFile: string | null },
): Promise<NodeProcess> {
  const guard = new URL('./orphan-guard.js', import.meta.url).href;
  const probe = new URL('./heap-probe.js', import.meta.url).href;
  // The configuration comes from the flags only: none of the caller's SWITCHBOARD_*, DATABASE_URL or REDIS_URL.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_') || k === 'DATABASE_URL' || k === 'REDIS_URL') delete env[k];
  env['SWITCHBOARD_SECRET'] = secret;
  const probeFlags = node.heapFile ? ['--expose-gc', '--import', probe] : [];
  if (node.heapFile) env['SB_BENCH_HEAP_FILE'] = node.heapFile;
  const child = spawn(process.execPath, [...node.flags, ...probeFlags, '--import', guard, host.cliMain, ...flags], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  registry.add(child.pid);
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const kill = async () => {
    if (running()) process.kill(child.pid as number, 'SIGKILL');
    await exited;
    registry.delete(child.pid);
  };

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchFailure(`the server did not start within ${startTimeoutMs} ms: ${output}`)), startTimeoutMs);
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
    await kill();
    throw err;
  });
  // Keep reading its logs (warnings only) so a full pipe never blocks it.
  child.stdout.on('data', keep);
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    pid: child.pid,
    get alive() {
      return running();
    },
    kill,
    ...(node.heapFile ? { heap: () => readHeap(child.pid as number, node.heapFile as string, running) } : {}),
    async stop() {
      if (running()) {
        process.kill(child.pid as number, 'SIGTERM');
        const hard = setTimeout(() => {
          if (running()) process.kill(child.pid as number, 'SIGKILL');
        }, 5000);
        await exited;
        clearTimeout(hard);
      }
      registry.delete(child.pid);
    },
  };
}

/** Ask a node's heap probe (SIGUSR2) and wait for its answer in `file`. */
async function readHeap(pid: number, file: string, running: () => boolean): Promise<HeapFigures | null> {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!running()) return null;
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (text && text !== before && text.endsWith('\n')) return JSON.parse(text) as HeapFigures;
  }
  return null;
}

/** The fresh PostgreSQL schema and Redis key prefix a run's nodes share, each removed at the end. */
async function sharedStores(host: ServerHost, opts: OwnServerOptions): Promise<{ flags: string[]; drop(): Promise<void> }> {
  const flags: string[] = [];
  const drops: Array<() => Promise<void>> = [];
  const drop = async () => {
    for (const d of drops) await d().catch(() => {});
  };
  try {
    if (opts.storage === 'postgres') {
      if (!host.postgresSchema) throw new BenchFailure('this installation cannot create PostgreSQL schemas (--storage postgres)');
      const url = opts.postgresUrl ?? '';
      const pg = await host.postgresSchema(url).catch((err: unknown) => {
        throw new BenchFailure(`could not create a schema in PostgreSQL at ${hidePassword(url)}: ${(err as Error).message}`);
      });
      drops.push(() => pg.drop());
      flags.push('--database', pg.database);
    }
    if (opts.redisUrl !== undefined) {
      if (!host.redisPrefix) throw new BenchFailure('this installation cannot prepare a Redis key prefix (--nodes)');
      const url = opts.redisUrl;
      const redis = await host.redisPrefix(url).catch((err: unknown) => {
        throw new BenchFailure(`could not reach Redis at ${hidePassword(url)}: ${(err as Error).message}`);
      });
      drops.push(() => redis.drop());
      flags.push('--redis', url, '--redis-prefix', redis.prefix);
    }
  } catch (err) {
    await drop();
    throw err;
  }
  return { flags, drop };
}

const hidePassword = (url: string) => url.replace(/\/\/[^@/]*@/, '//…@');

/**
 * Start `switchboard serve` as child processes (the host's compiled CLI), each on a free
 * 127.0.0.1 port with a temporary data directory of its own, all with one generated HMAC
 * secret (passed in the environment, not on the command line) and one admin API key created
 * beforehand, so a token or the key works on every node. Several nodes share a fresh
 * PostgreSQL schema and Redis under a fresh key prefix; they start one after the other (the
 * first runs the migrations).
 */
export async function startOwnServer(host: ServerHost, opts: OwnServerOptions, registry: ChildRegistry): Promise<BenchServer> {
  const count = opts.nodes ?? 1;
  const shared = await sharedStores(host, opts);
  const dirs = Array.from({ length: count }, () => mkdtempSync(join(tmpdir(), 'sb-bench-')));
  const secret = randomBytes(32).toString('base64url');
  const [first, ...others] = dirs as [string, ...string[]];
  const apiKey = host.createApiKey(first);
  for (const dir of others) cpSync(first, dir, { recursive: true });
  const flags = (dataDir: string) => [
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
    ...shared.flags,
    ...opts.extraFlags,
  ];
  const removeDirs = () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  const nodes: NodeProcess[] = [];
  try {
    for (const dir of dirs)
      nodes.push(
        await spawnNode(host, flags(dir), secret, opts.startTimeoutMs, registry, {
          flags: opts.nodeFlags ?? [],
          heapFile: opts.heapProbe ? join(dir, 'heap.json') : null,
        }),
      );
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    removeDirs();
    await shared.drop();
    throw err;
  }
  const node0 = nodes[0] as NodeProcess;
  return {
    url: node0.url,
    httpUrl: node0.httpUrl,
    secret,
    apiKey,
    pid: node0.pid,
    nodes,
    spawned: true,
    storage: opts.storage === 'postgres' ? 'postgres' : 'sqlite',
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      removeDirs();
      await shared.drop();
    },
    kill() {
      for (const n of nodes) void n.kill();
      removeDirs();
      void shared.drop();
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
    nodes: [{ url: opts.url, httpUrl, pid: opts.pid, alive: true, kill: async () => {} }],
    spawned: false,
    storage: 'unknown',
    stop: async () => {},
    kill: () => {},
  };
}
