import type { Scenario } from './context.js';
import { BenchUsageError } from './failure.js';
import type { BenchArgs, OptionDef } from './options.js';
import { ephemeralPorts, openFileLimit } from './proc.js';
import type { ProgressMode } from './progress.js';

/** Most server processes `--nodes` starts. */
const MAX_NODES = 5;

/** Options every scenario takes. */
export const COMMON_OPTIONS: OptionDef[] = [
  {
    flag: '--workers',
    kind: 'count',
    help: "load-generator processes (default 1, or the scenario's; 2 above 2,000 connections; more if one would pass its open-files limit)",
  },
  {
    flag: '--addresses',
    kind: 'count',
    min: 0,
    max: 250,
    default: '8',
    help: 'loopback source addresses (127.0.0.2, …) the connections round-robin over; 0: the system picks. Raised when one address has too few ports',
  },
  { flag: '--concurrency', kind: 'count', default: '256', help: 'connection handshakes in flight over all workers' },
  { flag: '--timeout', kind: 'duration', help: 'deadline of the whole run (default: from the scenario and its size)' },
  { flag: '--json', kind: 'flag', help: 'print one JSON object on stdout instead of the table' },
  {
    flag: '--progress',
    kind: 'choice',
    choices: ['auto', 'bar', 'lines', 'none'],
    default: 'auto',
    help: 'live progress on stderr; auto: a bar on a terminal, otherwise one line per second',
  },
  { flag: '--namespace', kind: 'text', default: 'project', help: 'namespace of the bench channels (the tokens get all actions on <ns>:*)' },
  { flag: '--tenant', kind: 'text', default: 'bench', help: 'tenant of the bench tokens and API calls' },
  { flag: '--url', kind: 'text', help: 'WebSocket URL of a running server (ws://host:port/ws); without it the bench starts one' },
  { flag: '--http-url', kind: 'text', help: "that server's HTTP base URL (default: from --url)" },
  { flag: '--secret', kind: 'text', help: "that server's HMAC token secret (or SWITCHBOARD_SECRET); required with --url" },
  { flag: '--api-key', kind: 'text', help: 'an API key of that server (HTTP publishing, notifications)' },
  { flag: '--server-pid', kind: 'count', help: "that server's pid, to read its CPU and RSS from /proc" },
  { flag: '--server-flag', kind: 'list', help: 'extra flag for the started server, repeatable (--server-flag --redis=redis://127.0.0.1:6379)' },
  {
    flag: '--node-flag',
    kind: 'list',
    help: 'extra flag for node running each started server, repeatable (--node-flag=--cpu-prof --node-flag=--cpu-prof-dir=/tmp/prof: a CPU profile written when it stops)',
  },
  { flag: '--history', kind: 'count', default: '10000', help: 'history size of the bench namespace on the started server' },
  {
    flag: '--storage',
    kind: 'choice',
    choices: ['sqlite', 'postgres'],
    default: 'sqlite',
    help: 'store of the started server: SQLite in its data directory, or a fresh schema of PostgreSQL (dropped at the end)',
  },
  {
    flag: '--postgres-url',
    kind: 'text',
    help: 'PostgreSQL database for --storage postgres (default SB_BENCH_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test)',
  },
  {
    flag: '--nodes',
    kind: 'count',
    min: 1,
    max: MAX_NODES,
    default: '1',
    help: `server processes the bench starts (at most ${MAX_NODES}); above 1 they share Redis (--redis-url, under a fresh key prefix deleted at the end) and need --storage postgres; connections round-robin over them, server CPU and RSS are their sum`,
  },
  {
    flag: '--redis-url',
    kind: 'text',
    help: 'Redis of the nodes of --nodes (default SB_BENCH_REDIS_URL or redis://127.0.0.1:6379)',
  },
];

/** The Redis the nodes of `--nodes` share. */
export function redisUrl(args: BenchArgs): string {
  return args.optionalText('--redis-url') ?? process.env['SB_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

/** The PostgreSQL database of `--storage postgres`. */
export function postgresUrl(args: BenchArgs): string {
  return args.optionalText('--postgres-url') ?? process.env['SB_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export interface ExternalTarget {
  url: string;
  httpUrl: string | undefined;
  secret: string;
  apiKey: string | undefined;
  pid: number | undefined;
}

/** A validated run: sizes derived from the scenario, limits of this machine checked. */
export interface RunPlan {
  scenario: Scenario;
  args: BenchArgs;
  external: ExternalTarget | undefined;
  connections: number;
  /** Server processes the bench starts (`--nodes`; 1 with `--url`). */
  nodes: number;
  workers: number;
  addresses: string[];
  concurrency: number;
  timeoutMs: number;
  progress: ProgressMode;
  fileLimit: number | null;
}

const bad = (message: string) => new BenchUsageError(message);
/** File descriptors a process needs besides its sockets (stdio, IPC, the loader, SQLite, …). */
const FD_RESERVE = 200;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function externalTarget(args: BenchArgs): ExternalTarget | undefined {
  const url = args.optionalText('--url');
  if (url !== undefined && (args.has('--postgres-url') || args.text('--storage') !== 'sqlite'))
    throw bad('--storage and --postgres-url only go with a server the bench starts (not with --url)');
  if (url !== undefined && args.list('--node-flag').length > 0) throw bad('--node-flag only goes with servers the bench starts (not with --url)');
  if (url !== undefined && (args.count('--nodes') > 1 || args.has('--redis-url')))
    throw bad('--nodes and --redis-url only go with servers the bench starts (not with --url)');
  if (url === undefined) {
    const nodes = args.count('--nodes');
    if (nodes > 1 && args.text('--storage') !== 'postgres')
      throw bad(`--nodes ${nodes} needs --storage postgres: the nodes share one database, and SQLite is a file of one node`);
    if (nodes === 1 && args.has('--redis-url')) throw bad('--redis-url only goes with --nodes 2 or more');
    for (const f of ['--http-url', '--secret', '--api-key', '--server-pid'])
      if (args.has(f)) throw bad(`${f} only goes with --url (a server started elsewhere)`);
    return undefined;
  }
  if (!/^wss?:\/\/[^/]+/.test(url)) throw bad(`--url must be a WebSocket URL like ws://127.0.0.1:7070/ws, got "${url}"`);
  const secret = args.optionalText('--secret') ?? process.env['SWITCHBOARD_SECRET'];
  if (!secret) throw bad('--url needs --secret (or SWITCHBOARD_SECRET): the bench mints its own tokens');
  const httpUrl = args.optionalText('--http-url');
  if (httpUrl !== undefined && !/^https?:\/\/[^/]+/.test(httpUrl)) throw bad(`--http-url must be like http://127.0.0.1:7070, got "${httpUrl}"`);
  return {
    url,
    httpUrl: httpUrl?.replace(/\/+$/, ''),
    secret,
    apiKey: args.optionalText('--api-key'),
    pid: args.has('--server-pid') ? args.count('--server-pid') : undefined,
  };
}

/** 127.0.0.2, 127.0.0.3, … */
function loopbackAddresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
}

export function planRun(scenario: Scenario, args: BenchArgs): RunPlan {
  const external = externalTarget(args);
  if (!/^[a-z][a-z0-9_-]{0,63}$/.test(args.text('--namespace'))) throw bad('--namespace must be a namespace name ([a-z][a-z0-9_-]*)');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(args.text('--tenant'))) throw bad('--tenant must be 1-64 letters, digits, _ or -');
  const connections = scenario.connections(args);
  const fileLimit = openFileLimit();
  if (!external && fileLimit !== null && connections + FD_RESERVE > fileLimit) {
    throw bad(
      `${connections} connections need about ${connections + FD_RESERVE} open files in the server, and this shell allows ${fileLimit} per process (ulimit -n). Raise the limit before starting (ulimit -n ${connections + 1000}) or use fewer connections; see docs/load-testing.md`,
    );
  }
  let workers = args.has('--workers') ? args.count('--workers') : Math.max(scenario.workers?.(args) ?? 1, connections > 2000 ? 2 : 1);
  if (fileLimit !== null) {
    const needed = Math.ceil(connections / Math.max(1, fileLimit - FD_RESERVE));
    if (needed > workers) {
      if (args.has('--workers'))
        throw bad(
          `--workers ${workers}: ${Math.ceil(connections / workers)} connections per worker exceed the open-files limit (${fileLimit}); use --workers ${needed} or more`,
        );
      workers = needed;
    }
  }
  workers = Math.min(workers, Math.max(1, connections));

  const host = new URL(external?.url ?? 'ws://127.0.0.1').hostname;
  const perAddress = Math.floor(ephemeralPorts() * 0.9);
  const wanted = args.count('--addresses');
  let addresses: string[] = [];
  if (isLoopback(host) && host !== 'localhost' && host !== '[::1]') {
    const needed = Math.ceil(connections / perAddress);
    if (wanted === 0 && needed > 1) throw bad(`--addresses 0: ${connections} connections exceed the ~${perAddress} ephemeral ports of one source address`);
    if (wanted > 0) addresses = loopbackAddresses(Math.min(250, Math.max(wanted, needed)));
  } else if (connections > perAddress) {
    throw bad(
      `${connections} connections to ${host} exceed the ~${perAddress} ephemeral ports of one source address; several loopback source addresses are only used towards 127.x servers`,
    );
  }

  const mode = args.text('--progress');
  const progress: ProgressMode = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : (mode as ProgressMode);
  return {
    scenario,
    args,
    external,
    connections,
    nodes: external ? 1 : args.count('--nodes'),
    workers,
    addresses,
    concurrency: args.count('--concurrency'),
    timeoutMs: args.has('--timeout') ? args.ms('--timeout') : scenario.estimateMs(args),
    progress,
    fileLimit,
  };
}
