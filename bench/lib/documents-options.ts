import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ArgReader } from './args.js';
import { SERVER_NAMES, type ServerName } from './documents-report.js';

/** The command line of bench/documents.ts; its header comment is the --help text. */

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'bench', 'documents.ts');

export interface Options {
  servers: ServerName[];
  rates: number[];
  editors: number;
  duration: number;
  warmup: number;
  drain: number;
  workers: number;
  providerRate: number;
  providerDuration: number;
  syncKb: number;
  joins: number;
  joiners: number;
  documents: number;
  /** Seconds the documents of scenario 4 stay open and untouched before the heap is measured. */
  memoryQuiet: number;
  /** Documents of scenario 4 opened with their clients before the baseline, and kept open (the code's one-time heap is then in the baseline). */
  memoryWarm: number;
  /** Switchboard's `documents.hibernateAfter` for the run (a duration; undefined: its default). */
  hibernateAfter: string | undefined;
  /** Switchboard's `documents.sendWindow` for the run (a duration; undefined: its default). */
  sendWindow: string | undefined;
  /** Whether Switchboard's `doc` namespace stores its documents (its default); false: `persistence: false`. */
  persistence: boolean;
  quietWait: number;
  retryNoisy: number;
  profile: string | undefined;
  out: string;
  docs: boolean;
  maxMinutes: number;
  render: string | undefined;
  /** Switchboard's store: the SQLite file, or PostgreSQL at `postgresUrl` (a fresh schema per server start). */
  database: 'sqlite' | 'postgres';
  postgresUrl: string;
  /** Switchboard processes sharing Redis at `redisUrl` and the PostgreSQL schema (1: one process, no Redis). */
  nodes: number;
  redisUrl: string;
}

export function parseOptions(argv: string[]): Options {
  const o: Options = {
    servers: [...SERVER_NAMES],
    rates: [1000, 2000, 4000, 8000, 12000],
    editors: 50,
    duration: 4,
    warmup: 1,
    drain: 10,
    workers: 2,
    providerRate: 10,
    providerDuration: 8,
    syncKb: 1200,
    joins: 30,
    joiners: 20,
    documents: 1000,
    memoryQuiet: 1,
    memoryWarm: 200,
    hibernateAfter: undefined,
    sendWindow: undefined,
    persistence: true,
    quietWait: 30,
    retryNoisy: 1,
    profile: undefined,
    out: join(ROOT, 'bench', 'results', 'documents-latest.json'),
    docs: true,
    maxMinutes: 20,
    render: undefined,
    database: 'sqlite',
    postgresUrl: process.env['SB_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    nodes: 1,
    redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  };
  const zeroOr = (a: ArgReader, max: number) => {
    const v = a.value();
    if (v === '0') return 0;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`expected 0 or a positive number, got ${v}`);
    return Math.min(max, n);
  };
  const a = new ArgReader(argv);
  let help = false;
  for (let flag = a.next(); flag !== undefined; flag = a.next()) {
    switch (flag) {
      case '--servers': {
        const names = a.value().split(',');
        for (const n of names)
          if (!SERVER_NAMES.includes(n as ServerName)) throw new Error(`--servers: unknown server ${n} (known: ${SERVER_NAMES.join(', ')})`);
        o.servers = names as ServerName[];
        break;
      }
      case '--rates': {
        // `none` skips scenario 1.
        if (argv[argv.indexOf('--rates') + 1] === 'none') {
          a.value();
          o.rates = [];
        } else o.rates = a.positives(100_000);
        break;
      }
      case '--editors':
        o.editors = Math.max(2, Math.round(a.positive(999)));
        break;
      case '--duration':
        o.duration = a.positive(120);
        break;
      case '--warmup':
        o.warmup = zeroOr(a, 60);
        break;
      case '--drain':
        o.drain = a.positive(120);
        break;
      case '--workers':
        o.workers = Math.round(a.positive(16));
        break;
      case '--provider-rate':
        o.providerRate = zeroOr(a, 1000);
        break;
      case '--provider-duration':
        o.providerDuration = a.positive(120);
        break;
      case '--sync-kb':
        o.syncKb = zeroOr(a, 64 * 1024);
        break;
      case '--joins':
        o.joins = Math.round(a.positive(1000));
        break;
      case '--joiners':
        o.joiners = Math.round(a.positive(1000));
        break;
      case '--documents':
        o.documents = Math.round(zeroOr(a, 100_000));
        break;
      case '--memory-quiet':
        o.memoryQuiet = zeroOr(a, 600);
        break;
      case '--memory-warm':
        o.memoryWarm = Math.round(a.positive(10_000));
        break;
      case '--hibernate-after': {
        const v = a.value();
        if (!/^\d+(ms|s|m)?$/.test(v)) throw new Error(`--hibernate-after: a duration such as 0, 500ms or 10s, got ${v}`);
        o.hibernateAfter = v;
        break;
      }
      case '--send-window': {
        const v = a.value();
        if (!/^\d+(ms|s)?$/.test(v)) throw new Error(`--send-window: a duration such as 0, 2ms or 5ms, got ${v}`);
        o.sendWindow = v;
        break;
      }
      case '--persistence': {
        const v = a.value();
        if (v !== 'on' && v !== 'off') throw new Error(`--persistence: on or off, got ${v}`);
        o.persistence = v === 'on';
        break;
      }
      case '--quiet-wait':
        o.quietWait = zeroOr(a, 600);
        break;
      case '--retry-noisy':
        o.retryNoisy = Math.round(zeroOr(a, 5));
        break;
      case '--profile':
        o.profile = resolve(a.value());
        break;
      case '--out':
        o.out = resolve(a.value());
        break;
      case '--no-docs':
        o.docs = false;
        break;
      case '--max-minutes':
        o.maxMinutes = a.positive(240);
        break;
      case '--render':
        o.render = resolve(a.value());
        break;
      case '--database': {
        const v = a.value();
        if (v !== 'sqlite' && v !== 'postgres') throw new Error(`--database: sqlite or postgres, got ${v}`);
        o.database = v;
        break;
      }
      case '--postgres':
        o.postgresUrl = a.value();
        break;
      case '--nodes':
        o.nodes = Math.round(a.positive(16));
        break;
      case '--help':
        help = true;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  if (help) {
    process.stdout.write(`${readFileSync(SCRIPT, 'utf8').split('*/')[0]}*/\n`);
    process.exit(0);
  }
  if (o.nodes > 1 && (o.database !== 'postgres' || o.servers.some((s) => s !== 'switchboard')))
    throw new Error(`--nodes ${o.nodes}: several nodes are Switchboard's only and share PostgreSQL: add --servers switchboard --database postgres`);
  return o;
}
