import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mintToken, type Wire } from '@switchboard/loadgen';
import pg from 'pg';
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

/** Every child process the run started (servers and editor workers), stopped by pid at the end. */
export const started = new Set<ChildProcess>();

/** PostgreSQL for Switchboard (`--database postgres`): each server start gets a fresh schema, dropped when it stops. */
let postgresUrl: string | null = null;
export function useSwitchboardPostgres(url: string): void {
  postgresUrl = url;
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

export class BenchServer {
  private constructor(
    readonly name: ServerName,
    readonly child: ChildProcess,
    readonly port: number,
    private readonly schema: string | null,
  ) {}

  static async start(name: ServerName): Promise<BenchServer> {
    const spec = SPECS[name];
    let schema: string | null = null;
    const env = { ...spec.env };
    if (name === 'switchboard' && postgresUrl !== null) {
      schema = `sb_bench_${randomBytes(5).toString('hex')}`;
      await adminQuery(`CREATE SCHEMA ${schema}`);
      env['BENCH_DATABASE'] = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    }
    const { child, port } = await forkServer(spec.script, env, ['--expose-gc']);
    started.add(child);
    child.once('exit', () => started.delete(child));
    return new BenchServer(name, child, port, schema);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get url(): string {
    return SPECS[this.name].url(this.port);
  }

  cpuUs(): number {
    return cpuMicros(this.pid);
  }

  /** Heap after two forced GCs, and RSS, from the server itself. */
  stats(): Promise<{ heapUsed: number; rss: number }> {
    return this.#ask({ type: 'stats', gc: true }, 'stats') as Promise<{ heapUsed: number; rss: number }>;
  }

  profile(action: 'start' | 'stop', file?: string): Promise<unknown> {
    return this.#ask({ type: 'profile', action, ...(file ? { file } : {}) }, 'profiled');
  }

  #ask(msg: object, reply: string): Promise<unknown> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`${this.name}: no ${reply} within 30 s`)), 30_000);
      const on = (m: { type: string }) => {
        if (m.type !== reply) return;
        clearTimeout(timer);
        this.child.off('message', on);
        res(m);
      };
      this.child.on('message', on);
      this.child.send(msg);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ type: 'stop' });
    const hard = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(hard);
    if (this.schema) await adminQuery(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
  }
}

/** A token of the bench tenant that may read and write every `doc:` document (Switchboard). */
export const token = (sub: string) => mintToken(SECRET, { sub, tenant: 'bench', caps: { 'doc:*': ['subscribe', 'publish', 'presence'] }, ttlSeconds: 3600 });
