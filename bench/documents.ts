/**
 * Collaborative documents side by side: Switchboard (persistence on, SQLite) against
 * Hocuspocus and the y-websocket reference server (both in memory), in one run, each
 * server in its own process (bench/servers/*.mjs), a fresh one per measurement.
 *
 *   npx tsx bench/documents.ts                       # full run (~10 min on 2 cores); rewrites the Documents section of docs/benchmarks.md
 *   npx tsx bench/documents.ts --render FILE         # rewrite that section from a saved results file, without running
 *
 * Options (each checked, also with --help):
 *   --servers LIST        switchboard,hocuspocus,y-websocket
 *   --rates LIST          1000,2000,4000,8000,12000  updates/s offered in total by the light editors (scenario 1)
 *   --editors N           50      editors of the one document (scenarios 1 and 2)
 *   --duration S          4       seconds measured per rate, after --warmup S (1)
 *   --drain S             10      seconds to wait, after sending stopped, for every update to arrive
 *   --workers N           2       load-generator processes holding the editors
 *   --provider-rate N     10      updates/s per real provider (scenario 2; 0 skips it)
 *   --provider-duration S 8       seconds measured in scenario 2 (after --warmup)
 *   --sync-kb N           1200    KB of the document new clients sync, as one Yjs update (scenario 3; 0 skips it)
 *   --joins N             30      clients joining it one after another; then --joiners N (20) at once
 *   --documents N         1000    documents loaded, one client each (scenario 4; 0 skips it)
 *   --quiet-wait S        30      before each measurement wait up to S seconds for other processes to go quiet
 *   --profile DIR                 CPU-profile each server in scenario 1's measured windows (DIR/documents-<server>-<rate>.cpuprofile)
 *   --out FILE            bench/results/documents-latest.json   the raw results
 *   --no-docs                     do not touch docs/benchmarks.md
 *   --max-minutes N       20      hard deadline of the whole run
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { clockTicksPerSecond, Histogram, machineTicks, mintToken, nowUs, OtherLoad, rssBytes, waitQuiet } from '@switchboard/loadgen';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { ArgReader } from './lib/args.js';
import type { EditorsDone, EditorsStart } from './lib/documents-editors.js';
import {
  type DocumentsResults,
  type EditorsRun,
  type JoinRun,
  type MemoryRun,
  renderDocuments,
  SERVER_NAMES,
  type ServerName,
  writeDocumentsSection,
} from './lib/documents-report.js';
import { machineInfo } from './lib/machine.js';
import { cpuMicros, forkServer } from './lib/server-process.js';
import { authFrame, countMarkers, isStep2, step1Frame, TEXT, TextAppender, updateFrame, type Wire } from './lib/yjs-wire.js';

const ROOT = join(import.meta.dirname, '..');
const EDITORS_WORKER = join(import.meta.dirname, 'lib', 'documents-editors.ts');
const SECRET = 'documents-bench-secret-0123456789abcdef';

interface Options {
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
  quietWait: number;
  profile: string | undefined;
  out: string;
  docs: boolean;
  maxMinutes: number;
  render: string | undefined;
}

function parseOptions(argv: string[]): Options {
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
    quietWait: 30,
    profile: undefined,
    out: join(ROOT, 'bench', 'results', 'documents-latest.json'),
    docs: true,
    maxMinutes: 20,
    render: undefined,
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
      case '--rates':
        o.rates = a.positives(100_000);
        break;
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
      case '--quiet-wait':
        o.quietWait = zeroOr(a, 600);
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
      case '--help':
        help = true;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  if (help) {
    process.stdout.write(`${readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]}*/\n`);
    process.exit(0);
  }
  return o;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ servers

interface ServerSpec {
  script: string;
  wire: Wire;
  env: Record<string, string>;
  /** Base URL of the documents endpoint. */
  url(port: number): string;
  /** Name of document `n` (`doc` namespace on Switchboard). */
  doc(n: string): string;
}

const SPECS: Record<ServerName, ServerSpec> = {
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

const started = new Set<ChildProcess>();

class BenchServer {
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

const token = (sub: string) => mintToken(SECRET, { sub, tenant: 'bench', caps: { 'doc:*': ['subscribe', 'publish', 'presence'] }, ttlSeconds: 3600 });

// ------------------------------------------------------------------ scenario 1 and 2: editors of one document

async function editorsRun(opts: Options, name: ServerName, mode: 'light' | 'provider', rate: number, durationS: number): Promise<EditorsRun> {
  const spec = SPECS[name];
  const server = await BenchServer.start(name);
  const workers: ChildProcess[] = [];
  try {
    const doc = spec.doc('bench');
    const editorTokens = await Promise.all(
      Array.from({ length: opts.editors }, (_, i) => (name === 'switchboard' ? token(`editor-${i}`) : Promise.resolve('bench'))),
    );
    const base: Omit<EditorsStart, 'editors'> = {
      type: 'start',
      mode,
      wire: spec.wire,
      url: server.url,
      doc,
      totalEditors: opts.editors,
      ratePerEditor: rate / opts.editors,
      warmupMs: opts.warmup * 1000,
      durationMs: durationS * 1000,
      drainMs: opts.drain * 1000,
    };
    const nWorkers = Math.min(opts.workers, opts.editors);
    for (let w = 0; w < nWorkers; w++) {
      const child = fork(EDITORS_WORKER, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      started.add(child);
      child.once('exit', () => started.delete(child));
      workers.push(child);
    }
    const reply = <T>(child: ChildProcess, type: string, ms: number): Promise<T> =>
      new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`editor worker: no ${type} within ${ms} ms`)), ms);
        const on = (m: { type: string; message?: string }) => {
          if (m.type === 'error') {
            clearTimeout(timer);
            child.off('message', on);
            rej(new Error(`editor worker: ${m.message}`));
          } else if (m.type === type) {
            clearTimeout(timer);
            child.off('message', on);
            res(m as T);
          }
        };
        child.on('message', on);
      });
    await Promise.all(
      workers.map((child, w) => {
        const editors = editorTokens.flatMap((t, id) => (id % nWorkers === w ? [{ id, token: t }] : []));
        const answer = reply(child, 'connected', 60_000);
        child.send({ ...base, editors } satisfies EditorsStart);
        return answer;
      }),
    );
    await waitQuiet([server.pid, ...workers.map((c) => c.pid as number)], opts.quietWait, log);
    const other = new OtherLoad([process.pid, server.pid, ...workers.map((c) => c.pid as number)]);
    const startUs = nowUs() + 300_000;
    const done = workers.map((child) => reply<EditorsDone>(child, 'done', (opts.warmup + durationS + opts.drain) * 1000 + 30_000));
    for (const child of workers) child.send({ type: 'go', startUs });
    // The server's CPU from the end of the warm-up to the end of the drain.
    await sleep(300 + opts.warmup * 1000);
    const profileFile = opts.profile && mode === 'light' ? join(opts.profile, `documents-${name}-${rate}.cpuprofile`) : undefined;
    if (profileFile) await server.profile('start');
    const cpu0 = server.cpuUs();
    const t0 = nowUs();
    const results = await Promise.all(done);
    const serverCpuUs = server.cpuUs() - cpu0;
    const windowS = (nowUs() - t0) / 1e6;
    if (profileFile) {
      mkdirSync(dirname(profileFile), { recursive: true });
      await server.profile('stop', profileFile);
    }
    const otherPct = other.pct();
    const rssAfter = rssBytes(server.pid) ?? 0;
    const h = Histogram.merge(results.map((r) => r.histogram));
    const measured = results.reduce((s, r) => s + r.measuredDeliveries, 0);
    const deliveries = results.reduce((s, r) => s + r.deliveries, 0);
    const expected = results.reduce((s, r) => s + r.expected, 0);
    const sent = results.reduce((s, r) => s + r.sent, 0);
    const generatorCpuUs = results.reduce((s, r) => s + r.cpuUs, 0);
    const sendWindowS = opts.warmup + durationS + Math.max(...results.map((r) => r.drainMs)) / 1000;
    const summary = h.summary();
    // Checked while the editors are still connected: Hocuspocus drops an in-memory document with its last connection.
    const check = await verifyDocument(server, sent);
    for (const child of workers) child.send({ type: 'stop' });
    const run: EditorsRun = {
      server: name,
      mode,
      rate,
      editors: opts.editors,
      durationS,
      sent,
      deliveries,
      expected,
      complete: deliveries === expected,
      measuredDeliveries: measured,
      deliveredPerS: measured / durationS,
      latency: summary,
      serverCpuUsPerDelivery: measured > 0 ? serverCpuUs / measured : null,
      serverCpuPct: (serverCpuUs / 1e6 / windowS) * 100,
      generatorCpuPct: (generatorCpuUs / 1e6 / sendWindowS) * 100,
      maxSendLagMs: Math.max(...results.map((r) => r.maxLagMs)),
      drainMs: Math.max(...results.map((r) => r.drainMs)),
      serverRssMB: rssAfter / 1024 ** 2,
      otherCpuPct: otherPct.normal + otherPct.niced,
      documentCheck: check,
    };
    run.sustained = run.complete && summary.p99 < 50;
    log(
      `  ${name} ${mode} ${rate}/s: p50 ${summary.p50} p99 ${summary.p99} ms, ${Math.round(run.deliveredPerS)} deliveries/s, ${deliveries}/${expected} delivered, ` +
        `server ${run.serverCpuUsPerDelivery?.toFixed(2)} µs/delivery (${run.serverCpuPct.toFixed(0)} %), generator ${run.generatorCpuPct.toFixed(0)} %, ` +
        `document ${check.found}/${check.sent}, other ${run.otherCpuPct.toFixed(0)} %`,
    );
    return run;
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await server.stop();
  }
}

/** A real provider of the server's own kind syncs the document and counts every editor's markers in it. */
async function verifyDocument(server: BenchServer, sent: number): Promise<{ sent: number; found: number; ok: boolean }> {
  const spec = SPECS[server.name];
  const doc = new Y.Doc();
  const polyfill = WebSocket as never;
  let synced: () => boolean;
  let destroy: () => void;
  if (spec.wire === 'hocuspocus') {
    const socket = new HocuspocusProviderWebsocket({ url: server.url, WebSocketPolyfill: polyfill });
    const provider = new HocuspocusProvider({ websocketProvider: socket, name: spec.doc('bench'), document: doc, token: 'bench' });
    provider.attach();
    synced = () => provider.isSynced;
    destroy = () => {
      provider.destroy();
      socket.destroy();
    };
  } else {
    const params: Record<string, string> = server.name === 'switchboard' ? { token: await token('checker') } : {};
    const provider = new WebsocketProvider(server.url, spec.doc('bench'), doc, { WebSocketPolyfill: polyfill, params, disableBc: true });
    synced = () => provider.synced;
    destroy = () => provider.destroy();
  }
  const deadline = Date.now() + 30_000;
  while (!synced() && Date.now() < deadline) await sleep(20);
  let found = 0;
  for (const n of countMarkers(doc.getText(TEXT).toString()).values()) found += n;
  destroy();
  doc.destroy();
  return { sent, found, ok: found === sent };
}

// ------------------------------------------------------------------ light connections (scenarios 3 and 4)

interface LightConn {
  ws: WebSocket;
  /** Resolves with the µs from opening the socket to sync step 2 and its size. */
  synced: Promise<{ us: number; bytes: number; step2: Buffer }>;
}

function openLight(server: BenchServer, docName: string, tok: string, update?: Buffer): LightConn {
  const spec = SPECS[server.name];
  const t0 = nowUs();
  const url = spec.wire === 'hocuspocus' ? server.url : `${server.url}/${docName}?token=${encodeURIComponent(tok)}`;
  const ws = new WebSocket(url, { maxPayload: 256 * 1024 * 1024 });
  ws.binaryType = 'nodebuffer';
  const synced = new Promise<{ us: number; bytes: number; step2: Buffer }>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${server.name}: ${docName} not synced in 60 s`)), 60_000);
    ws.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    ws.on('open', () => {
      if (spec.wire === 'hocuspocus') ws.send(authFrame(docName, tok));
      ws.send(step1Frame(spec.wire, docName));
      if (update) ws.send(updateFrame(spec.wire, docName, update));
    });
    const onMessage = (data: Buffer) => {
      if (!isStep2(spec.wire, data)) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      res({ us: nowUs() - t0, bytes: data.length, step2: data });
    };
    ws.on('message', onMessage);
  });
  synced.catch(() => {});
  return { ws, synced };
}

const closeAll = async (conns: LightConn[]) => {
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.ws.readyState === WebSocket.CLOSED) return r();
          c.ws.once('close', () => r());
          c.ws.close();
          setTimeout(() => {
            c.ws.terminate();
            r();
          }, 2000);
        }),
    ),
  );
};

/** A text document of at least `kb` KB (its encoded state) in many items (inserts at pseudo-random places, as editing leaves it). */
function largeDocument(kb: number): Uint8Array {
  const doc = new Y.Doc();
  doc.clientID = 4242;
  const text = doc.getText(TEXT);
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const line = 'The quick brown fox jumps over the lazy dog while the editors keep typing. ';
  for (;;) {
    for (let t = 0; t < 10; t++) {
      doc.transact(() => {
        for (let i = 0; i < 100; i++) text.insert(Math.floor(rand() * text.length), line);
      });
    }
    const update = Y.encodeStateAsUpdate(doc);
    if (update.length >= kb * 1000) return update;
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;

async function joinRun(opts: Options, name: ServerName, update: Uint8Array): Promise<JoinRun> {
  const spec = SPECS[name];
  const server = await BenchServer.start(name);
  const conns: LightConn[] = [];
  try {
    const docName = spec.doc('large');
    const tok = name === 'switchboard' ? await token('joiner') : 'bench';
    // One holder keeps the document loaded (Hocuspocus unloads a document without connections).
    const holder = openLight(server, docName, tok, Buffer.from(update));
    conns.push(holder);
    await holder.synced;
    // Wait until a fresh client gets the whole state (Switchboard stores it first).
    const deadline = Date.now() + 30_000;
    let first = 0;
    for (;;) {
      const probe = openLight(server, docName, tok);
      const s = await probe.synced;
      await closeAll([probe]);
      first = s.bytes;
      if (s.bytes >= update.length * 0.9 || Date.now() > deadline) break;
      await sleep(200);
    }
    await waitQuiet([server.pid], opts.quietWait, log);
    const times: number[] = [];
    const cpu0 = server.cpuUs();
    for (let i = 0; i < opts.joins; i++) {
      const c = openLight(server, docName, tok);
      const s = await c.synced;
      times.push(s.us / 1000);
      if (i === 0) {
        const check = new Y.Doc();
        const body = s.step2.subarray(spec.wire === 'hocuspocus' ? 1 + Buffer.byteLength(docName) + 2 : 2);
        // Sync step 2 carries the update as a length-prefixed byte array: skip the varint length.
        let k = 0;
        while ((body[k] as number) >= 0x80) k++;
        Y.applyUpdate(check, body.subarray(k + 1));
        if (check.getText(TEXT).length < 1000) throw new Error(`${name}: the joiner's document is incomplete`);
        check.destroy();
      }
      await closeAll([c]);
    }
    const seqCpu = server.cpuUs() - cpu0;
    const sorted = [...times].sort((a, b) => a - b);
    await sleep(500);
    const cpu1 = server.cpuUs();
    const t0 = nowUs();
    const burst = Array.from({ length: opts.joiners }, () => openLight(server, docName, tok));
    const burstTimes = await Promise.all(burst.map((c) => c.synced.then((s) => s.us / 1000)));
    const burstWallMs = (nowUs() - t0) / 1000;
    const burstCpu = server.cpuUs() - cpu1;
    await closeAll(burst);
    const burstSorted = [...burstTimes].sort((a, b) => a - b);
    const run: JoinRun = {
      server: name,
      documentBytes: update.length,
      step2Bytes: first,
      joins: opts.joins,
      p50Ms: pct(sorted, 50),
      p99Ms: pct(sorted, 99),
      cpuMsPerJoin: seqCpu / 1000 / opts.joins,
      joiners: opts.joiners,
      allSynced: burstTimes.length === opts.joiners,
      burstAllSyncedMs: burstWallMs,
      burstP50Ms: pct(burstSorted, 50),
      burstCpuMsPerJoin: burstCpu / 1000 / opts.joiners,
    };
    log(
      `  ${name} sync ${(update.length / 1e6).toFixed(2)} MB: p50 ${run.p50Ms.toFixed(1)} p99 ${run.p99Ms.toFixed(1)} ms, ${run.cpuMsPerJoin.toFixed(1)} ms CPU/join; ${opts.joiners} at once: all synced in ${run.burstAllSyncedMs.toFixed(0)} ms`,
    );
    return run;
  } finally {
    await closeAll(conns);
    await server.stop();
  }
}

async function memoryRun(opts: Options, name: ServerName): Promise<MemoryRun> {
  const spec = SPECS[name];
  const server = await BenchServer.start(name);
  let conns: LightConn[] = [];
  try {
    const tok = name === 'switchboard' ? await token('memory') : 'bench';
    // Warm the code paths with one document first, so the baseline holds the code's own heap.
    const warm = openLight(server, spec.doc('warm'), tok, new TextAppender(1).next('warm'));
    await warm.synced;
    await closeAll([warm]);
    await sleep(500);
    const before = await server.stats();
    const rss0 = rssBytes(server.pid) ?? 0;
    for (let i = 0; i < opts.documents; i += 50) {
      const batch = Array.from({ length: Math.min(50, opts.documents - i) }, (_, k) => {
        const n = i + k;
        // Each document holds one small paragraph.
        return openLight(server, spec.doc(`m-${n}`), tok, new TextAppender(10_000 + n).next(`Paragraph ${n}: a few words that one editor typed. `.repeat(2)));
      });
      await Promise.all(batch.map((c) => c.synced));
      conns.push(...batch);
    }
    await sleep(1000);
    const withClients = await server.stats();
    const rss1 = rssBytes(server.pid) ?? 0;
    await closeAll(conns);
    conns = [];
    await sleep(1500);
    const after = await server.stats();
    const n = opts.documents;
    const run: MemoryRun = {
      server: name,
      documents: n,
      heapKBPerDocumentWithClient: (withClients.heapUsed - before.heapUsed) / 1024 / n,
      rssKBPerDocumentWithClient: (rss1 - rss0) / 1024 / n,
      heapKBPerDocumentNoClient: (after.heapUsed - before.heapUsed) / 1024 / n,
      keepsIdleDocuments: name !== 'hocuspocus',
    };
    log(
      `  ${name} ${n} documents: heap ${run.heapKBPerDocumentWithClient.toFixed(1)} KB/document with a client, ${run.heapKBPerDocumentNoClient.toFixed(1)} KB without; RSS ${run.rssKBPerDocumentWithClient.toFixed(1)} KB/document with a client`,
    );
    return run;
  } finally {
    await closeAll(conns);
    await server.stop();
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opts = parseOptions(argv);
  const section = join(ROOT, 'docs', 'benchmarks.md');
  if (opts.render) {
    const res = JSON.parse(readFileSync(opts.render, 'utf8')) as DocumentsResults;
    writeDocumentsSection(section, renderDocuments(res));
    log('rewrote the Documents section of docs/benchmarks.md');
    return;
  }
  const deadline = setTimeout(() => {
    log(`--max-minutes ${opts.maxMinutes} passed: stopping`);
    for (const c of started) c.kill('SIGKILL');
    process.exit(3);
  }, opts.maxMinutes * 60_000);
  deadline.unref();
  const machine0 = machineTicks();
  const t0 = Date.now();
  const res: DocumentsResults = {
    startedAt: new Date().toISOString(),
    command: `npx tsx bench/documents.ts${argv.length ? ` ${argv.join(' ')}` : ''}`,
    machine: machineInfo(),
    versions: versions(),
    options: { ...opts, out: undefined, profile: opts.profile ? 'yes' : undefined },
    editors: [],
    providers: [],
    joins: [],
    memory: [],
    seconds: 0,
  };
  try {
    log(`scenario 1: ${opts.editors} light editors on one document, ${opts.rates.join(', ')} updates/s in`);
    for (const name of opts.servers) {
      for (const rate of opts.rates) {
        const run = await editorsRun(opts, name, 'light', rate, opts.duration);
        res.editors.push(run);
        if (!run.complete) {
          log(`  ${name}: not every update arrived at ${rate}/s; higher rates skipped`);
          break;
        }
      }
    }
    if (opts.providerRate > 0) {
      log(`scenario 2: ${opts.editors} real providers × ${opts.providerRate} updates/s`);
      for (const name of opts.servers) res.providers.push(await editorsRun(opts, name, 'provider', opts.providerRate * opts.editors, opts.providerDuration));
    }
    if (opts.syncKb > 0) {
      const update = largeDocument(opts.syncKb);
      log(`scenario 3: new clients syncing a ${(update.length / 1e6).toFixed(2)} MB document`);
      for (const name of opts.servers) res.joins.push(await joinRun(opts, name, update));
    }
    if (opts.documents > 0) {
      log(`scenario 4: ${opts.documents} loaded documents, one client each`);
      for (const name of opts.servers) res.memory.push(await memoryRun(opts, name));
    }
  } finally {
    for (const c of started) c.kill('SIGKILL');
  }
  res.seconds = (Date.now() - t0) / 1000;
  const m1 = machineTicks();
  res.machineBusyPct = ((m1.busy - machine0.busy) / clockTicksPerSecond() / res.seconds) * 100;
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(res, null, 2)}\n`);
  log(`wrote ${opts.out}`);
  if (opts.docs) {
    writeDocumentsSection(section, renderDocuments(res));
    log('rewrote the Documents section of docs/benchmarks.md');
  } else {
    process.stdout.write(renderDocuments(res));
  }
}

function versions(): Record<string, string> {
  const v = (pkg: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  return Object.fromEntries(['@hocuspocus/server', '@y/websocket-server', 'y-websocket', '@hocuspocus/provider', 'yjs', 'ws'].map((p) => [p, v(p)]));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(String((err as Error)?.stack ?? err));
    for (const c of started) c.kill('SIGKILL');
    process.exit(1);
  },
);
