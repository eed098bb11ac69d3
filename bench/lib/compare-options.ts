import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_KINDS } from '@switchboard/loadgen';
import type { BenchOptions } from './results.js';
import { parseVariant } from './variants.js';

/** The command-line options of bench/compare.ts; its header comment is the --help text. */

const COMPARE = join(import.meta.dirname, '..', 'compare.ts');

/** Rates tested per subscriber count: each a fresh server; p99 against rate, and the highest rate sustained. */
const DEFAULT_FANOUT = '1000:25,1000:50,1000:100,1000:200,1000:500,1000:1000,10000:2,10000:5,10000:10,10000:25';

export function parseArgs(argv: string[]): BenchOptions & {
  storm: number;
  stormWorkers: number;
  json: boolean;
  docs: boolean;
  maxMinutes: number;
  quietWait: number;
  retryNoisy: number;
  nice: number;
  render: string | undefined;
} {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq !== -1) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--')) flags.set(a.slice(2), argv[++i] as string);
    else flags.set(a.slice(2), 'true');
  }
  const known = [
    'render',
    'nice',
    'retry-noisy',
    'quiet-wait',
    'json',
    'no-docs',
    'servers',
    'rounds',
    'connect',
    'fanout',
    'duration',
    'warmup',
    'workers',
    'addresses',
    'concurrency',
    'pin',
    'profile',
    'max-minutes',
    'storm',
    'storm-workers',
    'help',
  ];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}`);
  if (flags.has('help')) {
    process.stderr.write(`${readFileSync(COMPARE, 'utf8').split('*/')[0]}*/\n`);
    process.exit(0);
  }
  const num = (k: string, def: number) => {
    const v = flags.get(k);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k}: expected a number`);
    return n;
  };
  // switchboard-wN: `switchboard serve --workers N` (N ≥ 2), measured over its whole process tree.
  const servers = (flags.get('servers') ?? SERVER_KINDS.join(',')).split(',').map((s) => parseVariant(s.trim()));
  const fanoutSpec = flags.get('fanout') ?? DEFAULT_FANOUT;
  const fanout = (fanoutSpec === 'none' ? [] : fanoutSpec.split(',').filter(Boolean)).map((spec) => {
    const [n, r] = spec.split(':').map(Number);
    if (!n || !r) throw new Error(`--fanout: expected subscribers:rate pairs, got ${spec}`);
    return { subscribers: n, rate: r };
  });
  return {
    servers,
    rounds: num('rounds', 2),
    connect: num('connect', 5000),
    fanout,
    durationSeconds: num('duration', 5),
    warmupSeconds: num('warmup', 2),
    workers: Math.max(1, num('workers', 2)),
    addresses: Math.max(1, Math.min(250, num('addresses', 16))),
    concurrency: Math.max(1, num('concurrency', 100)),
    pin: flags.has('pin'),
    profile: flags.has('profile'),
    json: flags.has('json'),
    docs: !flags.has('no-docs'),
    maxMinutes: num('max-minutes', 60),
    storm: num('storm', 10_000),
    stormWorkers: Math.max(1, Math.min(64, Math.round(num('storm-workers', 1)))),
    quietWait: num('quiet-wait', 120),
    retryNoisy: num('retry-noisy', 2),
    nice: flags.has('nice') ? Number(flags.get('nice')) : 0,
    render: flags.get('render'),
  };
}
