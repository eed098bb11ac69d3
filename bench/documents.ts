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
 *   --rates LIST          1000,2000,4000,8000,12000  updates/s offered in total by the light editors (scenario 1; none skips it)
 *   --editors N           50      editors of the one document (scenarios 1 and 2)
 *   --duration S          4       seconds measured per rate, after --warmup S (1)
 *   --drain S             10      seconds to wait, after sending stopped, for every update to arrive
 *   --workers N           2       load-generator processes holding the editors
 *   --provider-rate N     10      updates/s per real provider (scenario 2; 0 skips it)
 *   --provider-duration S 8       seconds measured in scenario 2 (after --warmup)
 *   --sync-kb N           1200    KB of the document new clients sync, as one Yjs update (scenario 3; 0 skips it)
 *   --joins N             30      clients joining it one after another; then --joiners N (20) at once
 *   --documents N         1000    documents loaded, one client each (scenario 4; 0 skips it)
 *   --memory-quiet S      1       seconds those documents stay open and untouched before the heap is measured with their clients
 *   --memory-warm N       200     documents opened with their clients before the baseline and kept open through the measurement
 *                                 (after --memory-quiet, so they are in the state the measured ones reach): the code compiled
 *                                 and the caches filled while documents open are then in the baseline, not divided among the
 *                                 measured ones (1: one document opened and closed before the baseline, the method before 2026-12-07)
 *   --hibernate-after D   (10s)   Switchboard's documents.hibernateAfter for the run (0: documents are never held as their encoded state)
 *   --send-window D       (2ms)   Switchboard's documents.sendWindow for the run (0: its peers are sent once per event-loop turn)
 *   --persistence on|off  on      Switchboard's `doc` namespace stores its documents (off: in memory only, as the other two)
 *   --quiet-wait S        30      before each measurement wait up to S seconds for other processes to go quiet
 *   --retry-noisy N       1       repeat a measurement of scenarios 1 and 2 up to N times while other processes used > 25 % of a core in it (the quietest is kept)
 *   --profile DIR                 CPU-profile each server in the measured windows of scenarios 1 and 2 and over scenario 3's joins
 *                                 one by one (DIR/documents-<server>-<rate|providers|sync>.cpuprofile)
 *   --out FILE            bench/results/documents-latest.json   the raw results
 *   --no-docs                     do not touch docs/benchmarks.md
 *   --max-minutes N       20      no measurement starts after this many minutes (the run is stopped 3 minutes later)
 *   --database STORE      sqlite  Switchboard's store: sqlite (a temp file) or postgres (a fresh schema per server start, dropped after)
 *   --postgres URL                PostgreSQL for --database postgres (default $SB_BENCH_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test)
 *   --nodes N             1       Switchboard processes per measurement, sharing Redis ($REDIS_URL or redis://127.0.0.1:6379, a key prefix of
 *                                 their own, dropped after) and the PostgreSQL schema; N > 1 needs --servers switchboard --database postgres.
 *                                 Editors and joiners are spread round-robin over the nodes; server CPU is the sum over the N processes;
 *                                 scenario 4 (memory) is skipped
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { clockTicksPerSecond, countMarkers, Histogram, machineTicks, nowUs, OtherLoad, quietest, TEXT, waitQuiet } from '@switchboard/loadgen';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import type { EditorsDone, EditorsStart } from './lib/documents-editors.js';
import { type Options, parseOptions } from './lib/documents-options.js';
import { type DocumentsResults, type EditorsRun, renderDocuments, type ServerName, writeDocumentsSection } from './lib/documents-report.js';
import {
  BenchServer,
  log,
  SPECS,
  sleep,
  started,
  token,
  useSwitchboardDocuments,
  useSwitchboardNamespaces,
  useSwitchboardNodes,
  useSwitchboardPostgres,
} from './lib/documents-servers.js';
import { joinRun, largeDocument, memoryRun } from './lib/documents-sync.js';
import { machineInfo } from './lib/machine.js';
import { localRedis } from './lib/tree.js';

const ROOT = join(import.meta.dirname, '..');
const EDITORS_WORKER = join(import.meta.dirname, 'lib', 'documents-editors.ts');

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
        const editors = editorTokens.flatMap((t, id) => (id % nWorkers === w ? [{ id, token: t, url: server.urlOf(id) }] : []));
        const answer = reply(child, 'connected', 60_000);
        child.send({ ...base, editors } satisfies EditorsStart);
        return answer;
      }),
    );
    await waitQuiet([...server.pids, ...workers.map((c) => c.pid as number)], opts.quietWait, log);
    const other = new OtherLoad([process.pid, ...server.pids, ...workers.map((c) => c.pid as number)]);
    const startUs = nowUs() + 300_000;
    const done = workers.map((child) => reply<EditorsDone>(child, 'done', (opts.warmup + durationS + opts.drain) * 1000 + 30_000));
    for (const child of workers) child.send({ type: 'go', startUs });
    // The server's CPU from the end of the warm-up to the end of the drain.
    await sleep(300 + opts.warmup * 1000);
    const profileFile = opts.profile ? join(opts.profile, `documents-${name}-${mode === 'light' ? rate : 'providers'}.cpuprofile`) : undefined;
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
    const rssAfter = server.rssBytes();
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

/** An editors run, repeated while other processes disturbed it (the least disturbed attempt is kept). */
function measured(opts: Options, what: string, fn: () => Promise<EditorsRun>): Promise<EditorsRun> {
  return quietest<EditorsRun & { attempts: number }>(
    what,
    () => fn().then((r) => ({ ...r, attempts: 1 })),
    (r) => r.otherCpuPct,
    opts.retryNoisy,
    log,
  );
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

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opts = parseOptions(argv);
  if (opts.database === 'postgres') useSwitchboardPostgres(opts.postgresUrl);
  if (opts.hibernateAfter !== undefined) useSwitchboardDocuments({ hibernateAfter: opts.hibernateAfter });
  if (opts.sendWindow !== undefined) useSwitchboardDocuments({ sendWindow: opts.sendWindow });
  if (!opts.persistence) useSwitchboardNamespaces({ doc: { documents: { persistence: false } } });
  if (opts.nodes > 1) useSwitchboardNodes(opts.nodes, localRedis(opts.redisUrl));
  const section = join(ROOT, 'docs', 'benchmarks.md');
  if (opts.render) {
    const res = JSON.parse(readFileSync(opts.render, 'utf8')) as DocumentsResults;
    writeDocumentsSection(section, renderDocuments(res));
    log('rewrote the Documents section of docs/benchmarks.md');
    return;
  }
  // Past --max-minutes no new measurement starts (what was measured is still written); 3 minutes later the run is stopped.
  const budgetEnd = Date.now() + opts.maxMinutes * 60_000;
  const spent = (what: string) => {
    if (Date.now() < budgetEnd) return false;
    log(`--max-minutes ${opts.maxMinutes} passed: ${what} skipped`);
    return true;
  };
  const deadline = setTimeout(
    () => {
      log(`--max-minutes ${opts.maxMinutes} passed 3 minutes ago: stopping`);
      for (const c of started) c.kill('SIGKILL');
      process.exit(3);
    },
    (opts.maxMinutes + 3) * 60_000,
  );
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
    if (opts.nodes > 1)
      log(
        `${opts.nodes} Switchboard nodes on Redis per measurement, clients round-robin over them; server CPU and RSS are the sums over the ${opts.nodes} processes`,
      );
    if (opts.rates.length > 0) log(`scenario 1: ${opts.editors} light editors on one document, ${opts.rates.join(', ')} updates/s in`);
    for (const name of opts.servers) {
      for (const rate of opts.rates) {
        if (spent(`${name} ${rate}/s`)) break;
        const run = await measured(opts, `${name} ${rate}/s`, () => editorsRun(opts, name, 'light', rate, opts.duration));
        res.editors.push(run);
        if (!run.complete) {
          log(`  ${name}: not every update arrived at ${rate}/s; higher rates skipped`);
          break;
        }
      }
    }
    if (opts.providerRate > 0) {
      log(`scenario 2: ${opts.editors} real providers × ${opts.providerRate} updates/s`);
      for (const name of opts.servers) {
        if (spent(`${name} providers`)) break;
        res.providers.push(
          await measured(opts, `${name} providers`, () => editorsRun(opts, name, 'provider', opts.providerRate * opts.editors, opts.providerDuration)),
        );
      }
    }
    if (opts.syncKb > 0) {
      const update = largeDocument(opts.syncKb);
      log(`scenario 3: new clients syncing a ${(update.length / 1e6).toFixed(2)} MB document`);
      for (const name of opts.servers) if (!spent(`${name} sync`)) res.joins.push(await joinRun(opts, name, update));
    }
    if (opts.documents > 0 && opts.nodes > 1) log(`scenario 4 skipped: memory per document is measured on one node (--nodes ${opts.nodes})`);
    else if (opts.documents > 0) {
      log(`scenario 4: ${opts.documents} loaded documents, one client each`);
      for (const name of opts.servers) if (!spent(`${name} memory`)) res.memory.push(await memoryRun(opts, name));
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
