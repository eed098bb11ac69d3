import type { ChildProcess } from 'node:child_process';
import { mintToken } from '@switchboard/loadgen';
import type { ServerName } from './documents-report.js';
import { cpuMicros, forkServer } from './server-process.js';
import type { Wire } from './yjs-wire.js';

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

export class BenchServer {
  private constructor(
    readonly name: ServerName,
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(name: ServerName): Promise<BenchServer> {
    const spec = SPECS[name];
    const { child, port } = await forkServer(spec.script, spec.env, ['--expose-gc']);
    started.add(child);
    child.once('exit', () => started.delete(child));
    return new BenchServer(name, child, port);
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
  }
}

/** A token of the bench tenant that may read and write every `doc:` document (Switchboard). */
export const token = (sub: string) => mintToken(SECRET, { sub, tenant: 'bench', caps: { 'doc:*': ['subscribe', 'publish', 'presence'] }, ttlSeconds: 3600 });
