import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mintToken, rssBytes, type Wire } from '@switchboard/loadgen';
import pg from 'pg';
import { dropPrefix } from '../../test/cluster/drop-prefix.js';
import type { ServerName } from './documents-report.js';
import { cpuMicros, forkServer } from './server-process.js';

/** The servers of bench/documents.ts (bench/servers/*.mjs): how each is started, reached and measured. */

export const SECRET = 'documents-bench-secret-0123456789abcdef';

export const log = (line: string) => process.stderr.write(`${line}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ServerSpec {
  script: string;
  wire: Wire;
  env: Record<string, string>;
  /** Base URL of the documents endpoint. */
  url(port: number): string;
  /** Name of document `n` (`doc` namespace on Switchboard). */
  doc(n: string): string;
}

export const SPECS: Record<ServerName, ServerSpec> = {
  switchboard: {
    script: 'switchboard.mjs',
    wire: 'y-websocket',
    // Persistence on (the `doc` namespace's default), SQLite in a temp directory; the
    // per-connection message limit (200/s) is raised as the bench limits are.
    env: { BENCH_SECRET: SECRET, BENCH_DOCUMENTS: JSON.stringify({ messagesPerSecond: 1_000_000 }) },
    url: (port) => `ws://127.0.0.1:${port}/documents`,
    doc: (n) => `doc:${n}`,
  },
  hocuspocus: { script: 'hocuspocus.mjs', wire: 'hocuspocus', env: {}, url: (port) => `ws://127.0.0.1:${port}`, doc: (n) => n },
  'y-websocket': { script: 'y-websocket.mjs', wire: 'y-websocket', env: {}, url: (port) => `ws://127.0.0.1:${port}`, doc: (n) => n },
};

/** Switchboard's documents options over the ones above (bench/documents.ts --hibernate-after). */
export function useSwitchboardDocuments(options: Record<string, unknown>): void {
  const env = SPECS.switchboard.env;
  env['BENCH_DOCUMENTS'] = JSON.stringify({ ...(JSON.parse(env['BENCH_DOCUMENTS'] ?? '{}') as Record<string, unknown>), ...options });
}

/** Switchboard's namespaces for the run (bench/documents.ts --persistence off), as its config's `namespaces`. */
export function useSwitchboardNamespaces(namespaces: Record<string, unknown>): void {
  SPECS.switchboard.env['BENCH_NAMESPACES'] = JSON.stringify(namespaces);
}

/** Every child process the run started (servers and editor workers), stopped by pid at the end. */
export const started = new Set<ChildProcess>();

/** PostgreSQL for Switchboard (`--database postgres`): each server start gets a fresh schema, dropped when it stops. */
let postgresUrl: string | null = null;
export function useSwitchboardPostgres(url: string): void {
  postgresUrl = url;
}

/** Several Switchboard nodes (`--nodes N`): each server start is N processes on Redis at `url` under a fresh key prefix, dropped when they stop. */
let cluster: { nodes: number; redisUrl: string } = { nodes: 1, redisUrl: '' };
export function useSwitchboardNodes(nodes: number, redisUrl: string): void {
  cluster = { nodes, redisUrl };
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: postgresUrl as string });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** One server under test: one process, or for Switchboard with `--nodes N` N processes sharing Redis and the PostgreSQL schema. */
export class BenchServer {
  private constructor(
    readonly name: ServerName,
    readonly children: ChildProcess[],
    readonly ports: number[],
    private readonly schema: string | null,
    private readonly redisPrefix: string | null,
  ) {}

  static async start(name: ServerName): Promise<BenchServer> {
    const spec = SPECS[name];
    let schema: string | null = null;
    let redisPrefix: string | null = null;
    const env = { ...spec.env };
    const nodes = name === 'switchboard' ? cluster.nodes : 1;
    if (name === 'switchboard' && postgresUrl !== null) {
      schema = `sb_bench_${randomBytes(5).toString('hex')}`;
      await adminQuery(`CREATE SCHEMA ${schema}`);
      env['BENCH_DATABASE'] = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    }
    if (nodes > 1) {
      redisPrefix = `sb-bench-docs-${randomBytes(3).toString('hex')}`;
      env['BENCH_REDIS'] = cluster.redisUrl;
      env['BENCH_REDIS_PREFIX'] = redisPrefix;
    }
    const children: ChildProcess[] = [];
    const ports: number[] = [];
    // One after another: the first node creates the schema's tables, the others find them.
    for (let i = 0; i < nodes; i++) {
      const { child, port } = await forkServer(spec.script, env, ['--expose-gc']);
      started.add(child);
      child.once('exit', () => started.delete(child));
      children.push(child);
      ports.push(port);
    }
    return new BenchServer(name, children, ports, schema, redisPrefix);
  }

  /** The first node's process (the one node of a single-process server). */
  get child(): ChildProcess {
    return this.children[0] as ChildProcess;
  }

  /** The first node's port. */
  get port(): number {
    return this.ports[0] as number;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid as number);
  }

  /** The first node's URL. */
  get url(): string {
    return this.urlOf(0);
  }

  /** The URL of client `i`'s node: clients are spread round-robin over the nodes. */
  urlOf(i: number): string {
    return SPECS[this.name].url(this.ports[i % this.ports.length] as number);
  }

  /** CPU of every node's process, summed, µs. */
  cpuUs(): number {
    return this.pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
  }

  /** RSS of every node's process, summed, bytes. */
  rssBytes(): number {
    return this.pids.reduce((sum, pid) => sum + (rssBytes(pid) ?? 0), 0);
  }

  /** Heap after two forced GCs, and RSS, from the server itself. */
  stats(): Promise<{ heapUsed: number; rss: number }> {
    return this.#ask(this.child, { type: 'stats', gc: true }, 'stats') as Promise<{ heapUsed: number; rss: number }>;
  }

  /** CPU-profile every node; with several, node i writes FILE-node<i>.cpuprofile. */
  profile(action: 'start' | 'stop', file?: string): Promise<unknown> {
    const fileOf = (i: number) => (file && this.children.length > 1 ? file.replace(/\.cpuprofile$/, `-node${i}.cpuprofile`) : file);
    return Promise.all(this.children.map((child, i) => this.#ask(child, { type: 'profile', action, ...(file ? { file: fileOf(i) } : {}) }, 'profiled')));
  }

  #ask(child: ChildProcess, msg: object, reply: string): Promise<unknown> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`${this.name}: no ${reply} within 30 s`)), 30_000);
      const on = (m: { type: string }) => {
        if (m.type !== reply) return;
        clearTimeout(timer);
        child.off('message', on);
        res(m);
      };
      child.on('message', on);
      child.send(msg);
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.send({ type: 'stop' });
        const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(hard);
      }),
    );
    if (this.schema) await adminQuery(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    if (this.redisPrefix) await dropPrefix(cluster.redisUrl, this.redisPrefix);
  }
}

/** A token of the bench tenant that may read and write every `doc:` document (Switchboard). */
export const token = (sub: string) => mintToken(SECRET, { sub, tenant: 'bench', caps: { 'doc:*': ['subscribe', 'publish', 'presence'] }, ttlSeconds: 3600 });
