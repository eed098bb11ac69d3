/**
 * Throw-away Redis processes for the topology tests: a Redis Cluster of primaries, or a
 * master with a replica watched by a Sentinel. Each runs /usr/bin/redis-server on free ports
 * in a temp directory; only the processes started here are ever signalled, by pid.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { eventually } from './cluster.js';

const run = promisify(execFile);
const REDIS_SERVER = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server';
const REDIS_CLI = process.env['REDIS_CLI_BIN'] ?? '/usr/bin/redis-cli';

export interface RedisProcess {
  port: number;
  proc: ChildProcess;
  exited: Promise<void>;
  output: string[];
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Start redis-server with `args` (after the config file, if any); resolves once it answers PING. */
export async function startRedis(dir: string, port: number, args: string[], configFile?: string): Promise<RedisProcess> {
  const proc = spawn(
    REDIS_SERVER,
    [...(configFile ? [configFile] : []), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => {}); // refused until the server listens
  try {
    await eventually(
      async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server on ${port} exited:\n${output.join('')}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      },
      10_000,
      `redis-server on port ${port}`,
    );
  } finally {
    probe.disconnect();
  }
  return { port, proc, exited, output };
}

/** SIGKILL one of our Redis processes and wait for it to be gone. */
export async function killRedis(p: RedisProcess): Promise<void> {
  if (p.proc.exitCode === null && p.proc.signalCode === null && p.proc.pid !== undefined) process.kill(p.proc.pid, 'SIGKILL');
  await p.exited;
}

/** A Redis Cluster of `primaries` primaries, no replicas. */
export async function startRedisCluster(primaries = 3): Promise<{ nodes: RedisProcess[]; seeds: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-rcluster-'));
  const nodes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map(killRedis));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < primaries; i++) {
      const [port, bus] = [await freePort(), await freePort()];
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      nodes.push(
        await startRedis(nodeDir, port, [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(bus),
          '--cluster-config-file',
          join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    }
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run(REDIS_CLI, ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const n of nodes) {
      const r = new Redis({ port: n.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      try {
        await eventually(async () => /cluster_state:ok/.test((await r.cluster('INFO')) as string), 15_000, `cluster state ok on ${n.port}`);
      } finally {
        r.disconnect();
      }
    }
    return { nodes, seeds: seeds.join(','), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A master, one replica, and one Sentinel (quorum 1) monitoring them as `mymaster`. */
export async function startSentinelSetup(): Promise<{
  master: RedisProcess;
  replica: RedisProcess;
  sentinel: RedisProcess;
  sentinels: string;
  stop(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-rsentinel-'));
  const started: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(started.map(killRedis));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const master = await startRedis(dir, await freePort(), ['--dbfilename', 'master.rdb']);
    started.push(master);
    const replica = await startRedis(dir, await freePort(), ['--dbfilename', 'replica.rdb', '--replicaof', '127.0.0.1', String(master.port)]);
    started.push(replica);
    const sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file: it lives in the temp dir.
    writeFileSync(
      conf,
      [
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds mymaster 1000',
        'sentinel failover-timeout mymaster 5000',
        '',
      ].join('\n'),
    );
    const sentinel = await startRedis(dir, sentinelPort, ['--sentinel'], conf);
    started.push(sentinel);
    const s = new Redis({ port: sentinelPort, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      // The Sentinel must know the replica (it learns it from the master's INFO) and see it in sync.
      await eventually(
        async () => {
          const replicas = (await s.call('SENTINEL', 'REPLICAS', 'mymaster')) as string[][];
          return replicas.some((fields) => {
            const f = new Map<string, string>();
            for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] as string, fields[i + 1] as string);
            return f.get('port') === String(replica.port) && f.get('flags') === 'slave' && f.get('master-link-status') === 'ok';
          });
        },
        20_000,
        'the sentinel to see the replica in sync',
      );
    } finally {
      s.disconnect();
    }
    return { master, replica, sentinel, sentinels: `127.0.0.1:${sentinelPort}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
