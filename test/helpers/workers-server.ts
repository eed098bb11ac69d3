/**
 * `switchboard serve --workers N` as real processes for tests: a primary and its workers on
 * one port, tokens minted with the secret it was given, an admin API key in its data
 * directory. `kill()` ends every process it knows of by PID (the primary, each worker it
 * reported, and the workers started in place of dead ones).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { mintToken } from '@switchboard/server';
import { createStoredApiKey } from '@switchboard/server/testing';
import { eventually } from './eventually.js';
import type { TestTokenClaims } from './server.js';

const BIN = join(import.meta.dirname, '..', '..', 'packages', 'server', 'bin', 'switchboard.js');
const DEFAULT_CAPS = {
  'project:*': ['subscribe', 'publish', 'presence', 'history', 'signal'],
  'chat:*': ['subscribe', 'publish', 'presence', 'history', 'signal'],
};

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface WorkersServer {
  readonly primary: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  readonly dataDir: string;
  /** Admin API key (names the tenant per request). */
  readonly apiKey: string;
  /** Tenant-scoped API keys for tenants acme, demo and other. */
  readonly tenantKeys: Record<string, string>;
  /** The workers' PIDs now (a restarted worker replaces the dead one). */
  readonly workerPids: number[];
  /** Everything the primary printed so far. */
  output(): string;
  token(claims: TestTokenClaims): Promise<string>;
  /** Wait until a worker was started in place of `pid`; its PID. */
  replacementOf(pid: number, timeout?: number): Promise<number>;
  /** SIGTERM to the primary; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL to every process by PID, then the data directory goes (unless it was given). */
  kill(): void;
}

export interface WorkersServerOptions {
  workers: number;
  /** More flags for `serve`. */
  args?: string[];
  env?: Record<string, string>;
  /** A data directory to use (kept afterwards). */
  dataDir?: string;
  /** Config file contents (the same shape as `Switchboard.create`'s config input), written to the data directory. */
  config?: Record<string, unknown>;
}

export async function startWorkersServer(options: WorkersServerOptions): Promise<WorkersServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sb-workers-'));
  const secret = randomBytes(24).toString('hex');
  const apiKey = createStoredApiKey(dataDir, null).key;
  const tenantKeys: Record<string, string> = {};
  for (const t of ['acme', 'demo', 'other']) tenantKeys[t] = createStoredApiKey(dataDir, t).key;
  const configArgs: string[] = [];
  if (options.config) {
    const file = join(dataDir, 'test-config.json');
    writeFileSync(file, JSON.stringify(options.config));
    configArgs.push('--config', file);
  }
  const auth = (options.config?.['auth'] ?? {}) as { audience?: string; issuer?: string };
  const args = ['serve', '--workers', String(options.workers), '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'silent', ...configArgs];
  const primary = spawn(process.execPath, [BIN, ...args, '--secret', secret, ...(options.args ?? [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  let out = '';
  primary.stdout?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => primary.once('exit', (code) => r(code)));
  const workerPids: number[] = [];
  const seen = new Set<number>();
  const kill = () => {
    for (const pid of [primary.pid, ...seen]) if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await eventually(() => /Workers: .*\n/.test(out) || primary.exitCode !== null, 60_000, 'the workers line');
  } catch (err) {
    kill();
    throw err;
  }
  const line = /Workers: +\d+ \(pids ([\d, ]+);/.exec(out);
  if (!line) {
    kill();
    throw new Error(`serve --workers did not start:\n${out}`);
  }
  for (const pid of (line[1] as string).split(', ').map(Number)) {
    workerPids.push(pid);
    seen.add(pid);
  }
  const port = Number((/listening on port (\d+)/.exec(out) as RegExpExecArray)[1]);
  return {
    primary,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    dataDir,
    apiKey,
    tenantKeys,
    workerPids,
    output: () => out,
    token: (c) =>
      mintToken(secret, {
        sub: c.sub,
        tenant: c.tenant ?? 'acme',
        caps: (c.caps ?? DEFAULT_CAPS) as never,
        ttlSeconds: c.ttlSeconds ?? 3600,
        ...(c.info !== undefined ? { info: c.info } : {}),
        ...(c.subs !== undefined ? { subs: c.subs as string[] } : {}),
        ...(auth.audience ? { aud: auth.audience } : {}),
        ...(auth.issuer ? { iss: auth.issuer } : {}),
      }),
    async replacementOf(pid, timeout = 20_000) {
      const pattern = new RegExp(`worker ${pid} exited[^\\n]*\\n(?:[^\\n]*\\n)*?worker (\\d+) started in its place`);
      await eventually(() => pattern.test(out), timeout, `a worker started in place of ${pid}`);
      const replacement = Number((pattern.exec(out) as RegExpExecArray)[1]);
      seen.add(replacement);
      const i = workerPids.indexOf(pid);
      if (i >= 0) workerPids[i] = replacement;
      return replacement;
    },
    stop() {
      if (primary.exitCode === null) primary.kill('SIGTERM');
      return exited;
    },
    kill,
  };
}

/**
 * A `fetch` for the SDK's fallback that opens a new TCP connection for every request, so the
 * cluster module hands each one to a worker of its choosing (a pooled connection would keep
 * every POST on one worker).
 */
export const freshConnectionFetch = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<{ ok: boolean; status: number; body: ReadableStream<Uint8Array> }> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false, ...(init.signal ? { signal: init.signal } : {}) },
      (res) => {
        const status = res.statusCode ?? 0;
        resolve({ ok: status >= 200 && status < 300, status, body: Readable.toWeb(res) as ReadableStream<Uint8Array> });
      },
    );
    req.on('error', reject);
    req.end(init.body ?? '');
  });

/** A GET on a new connection (so the cluster module picks the worker); null when no answer comes within `timeout` ms (a stopped worker). */
export function getFresh(url: string, timeout = 3000, headers: Record<string, string> = {}): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, headers, signal: AbortSignal.timeout(timeout) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(null));
    });
    req.on('error', () => resolve(null));
  });
}
