import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '@switchboard/server';
import { dropPrefix as dropKeys } from './drop-prefix.js';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const SECRET = 'cluster-test-secret-0123456789-abcdefghij';
export const ADMIN_KEY = 'sb_cluster_admin_key_for_tests_only_0123456789';
const ALL = ['subscribe', 'publish', 'presence', 'history', 'signal', 'comment'];

/** One server process of a test cluster. Only processes started here are ever signalled. */
export interface ClusterNode {
  name: string;
  id: string;
  port: number;
  url: string;
  httpUrl: string;
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  alive(): boolean;
}

export interface ClusterOptions {
  redisUrl?: string;
  prefix?: string;
  /** Config merged over the defaults (objects one level deep). */
  config?: Record<string, unknown>;
}

/** A fresh key prefix, so each run owns its keys in the shared Redis. */
export const newPrefix = (name: string) => `sbcl-${name}-${randomBytes(3).toString('hex')}`;

export async function startNode(name: string, options: ClusterOptions & { prefix: string }): Promise<ClusterNode> {
  const dataDir = mkdtempSync(join(tmpdir(), `sb-cluster-${name}-`));
  const extra = options.config ?? {};
  const config = {
    host: '127.0.0.1',
    port: 0,
    logLevel: process.env['SB_CLUSTER_LOG'] ?? 'warn',
    development: false,
    dataDir,
    nodeId: name,
    redis: options.redisUrl ?? REDIS_URL,
    redisPrefix: options.prefix,
    auth: { secret: SECRET },
    apiKeys: [{ id: 'admin', hash: createHash('sha256').update(ADMIN_KEY).digest('hex'), tenant: null }],
    ...extra,
    timeouts: { presenceTtl: '2s', ...(extra['timeouts'] as object | undefined) },
    limits: { ...(extra['limits'] as object | undefined) },
    namespaces: { project: { historySize: 200, historyTtl: '5m' }, chat: { historySize: 50 }, ...(extra['namespaces'] as object | undefined) },
  };
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'node-process.mjs')], {
    env: { ...process.env, SB_NODE_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code, signal) => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  const ready = await new Promise<{ port: number; node: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start:\n${output.join('')}`)), 15_000);
    proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      const text = d.toString();
      output.push(text);
      const m = /SB_NODE_READY (\{.*\})/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1] as string) as { port: number; node: string });
      }
    });
    proc.once('exit', () => reject(new Error(`node ${name} exited during start:\n${output.join('')}`)));
  });
  let running = true;
  void exited.then(() => {
    running = false;
  });
  return {
    name,
    id: ready.node,
    port: ready.port,
    url: `ws://127.0.0.1:${ready.port}/ws`,
    httpUrl: `http://127.0.0.1:${ready.port}`,
    proc,
    output,
    exited,
    alive: () => running,
  };
}

export async function startCluster(names: string[], options: ClusterOptions & { prefix: string }): Promise<ClusterNode[]> {
  return Promise.all(names.map((n) => startNode(n, options)));
}

/** SIGKILL, as `kill -9`: no cleanup runs in the node. */
export async function killHard(node: ClusterNode): Promise<void> {
  if (node.alive() && node.proc.pid !== undefined) process.kill(node.proc.pid, 'SIGKILL');
  await node.exited;
}

/** Graceful stop of the nodes this test started; SIGKILL after 10 s. */
export async function stopAll(nodes: ClusterNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      if (!n.alive() || n.proc.pid === undefined) return;
      process.kill(n.proc.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (n.alive() && n.proc.pid !== undefined) process.kill(n.proc.pid, 'SIGKILL');
      }, 10_000);
      await n.exited;
      clearTimeout(timer);
    }),
  );
}

/** Delete every key of a test prefix from the shared Redis. */
export const dropPrefix = (prefix: string) => dropKeys(REDIS_URL, prefix);

export function token(sub: string, tenant = 'acme'): Promise<string> {
  return mintToken(SECRET, { sub, tenant, caps: { 'project:*': ALL, 'chat:*': ALL } as never, ttlSeconds: 3600 });
}

/** Call the HTTP API of a node with the admin key, acting in `tenant`. */
export async function api(
  node: ClusterNode,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  tenant = 'acme',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node.httpUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-switchboard-tenant': tenant, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function readyz(node: ClusterNode): Promise<number> {
  try {
    return (await fetch(`${node.httpUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}

export { eventually } from '../helpers/eventually.js';
