/**
 * What enforcing part locks costs: Yjs updates on one document whose namespace guards the
 * keys of its `fields` map (`lockedParts`), and record writes on one record whose namespace
 * has `lockedFields`, each measured with no lock held and with 100 locks held by other
 * users on other parts. The writers never touch a locked part, so everything is applied; what
 * differs is the check. Switchboard only (the other servers have no part locks), SQLite,
 * a fresh server per measurement.
 *
 *   npx tsx bench/documents-locks.ts [--rate 2000] [--duration 5] [--writers 20] [--records-concurrency 20] [--held 100] [--profile DIR] [--out FILE]
 *
 * Yjs: `--writers` raw y-websocket connections, each setting its own keys of `fields` at its
 * share of `--rate` for `--duration` seconds; server CPU per applied update from /proc, and
 * every update checked applied (switchboard_document_updates_total). Records: `--records-concurrency`
 * SDK writers in a closed loop (a write, its acknowledgement, the next) for `--duration`
 * seconds: writes per second acknowledged and server CPU per write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwitchboardClient } from '@switchboard/client';
import { locks } from '@switchboard/client/locks';
import { records } from '@switchboard/client/records';
import { step1Frame, updateFrame } from '@switchboard/loadgen';
import { mintToken } from '@switchboard/server';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { intFlag } from './lib/args.js';
import { BenchServer, SECRET, sleep, started } from './lib/documents-servers.js';
import { machineInfo } from './lib/machine.js';

const RATE = intFlag('rate', 2000, 20_000);
const DURATION = intFlag('duration', 5, 60);
const WRITERS = intFlag('writers', 20, 200);
const CONCURRENCY = intFlag('records-concurrency', 20, 200);
const HELD = intFlag('held', 100, 1000);
const outAt = process.argv.indexOf('--out');
const OUT = outAt === -1 ? join(import.meta.dirname, 'results', 'documents-locks.json') : (process.argv[outAt + 1] as string);

const KNOWN = new Set(['--rate', '--duration', '--writers', '--records-concurrency', '--held', '--out', '--profile', '--help']);
const profileAt = process.argv.indexOf('--profile');
/** CPU profiles of the server over each measured window go here (`locks-<yjs|records>-<held>-<n>.cpuprofile`). */
const PROFILE_DIR = profileAt === -1 ? null : (process.argv[profileAt + 1] as string);
let profiled = 0;
const profileStart = (server: BenchServer) => (PROFILE_DIR ? server.profile('start') : Promise.resolve());
const profileStop = (server: BenchServer, what: string, held: number) =>
  PROFILE_DIR ? server.profile('stop', join(PROFILE_DIR, `locks-${what}-${held}-${++profiled}.cpuprofile`)) : Promise.resolve();
const unknown = process.argv.slice(2).filter((a) => a.startsWith('--') && !KNOWN.has(a));
if (unknown.length > 0) throw new Error(`unknown options: ${unknown.join(' ')} (known: ${[...KNOWN].join(' ')})`);
if (process.argv.includes('--help')) {
  const header = readFileSync(import.meta.filename, 'utf8').split('*/')[0] as string;
  process.stdout.write(`${header.replace(/^\/\*\*\n?| \* ?/gm, '')}\n`);
  process.exit(0);
}

// Documents in `doc` guard the keys of their `fields` map; records in `form` lock their fields.
process.env['BENCH_NAMESPACES'] = JSON.stringify({
  doc: { documents: { lockedParts: { field: 'fields' } }, locks: true },
  form: { clientPublish: false, locks: true, records: { policy: 'merge', lockedFields: true } },
});

const CAPS = { 'doc:*': ['subscribe', 'publish', 'presence', 'lock'], 'form:*': ['subscribe', 'publish', 'lock'] };
const tokenOf = (sub: string) => mintToken(SECRET, { sub, tenant: 'bench', caps: CAPS as never, ttlSeconds: 3600 });

async function client(server: BenchServer, user: string): Promise<SwitchboardClient> {
  const tok = await tokenOf(user);
  const c = new SwitchboardClient(`ws://127.0.0.1:${server.port}/ws`, { getToken: async () => tok, WebSocket, transports: ['websocket'] });
  const ready = new Promise((r) => c.once('connected', r));
  c.connect();
  await ready;
  return c;
}

async function metric(server: BenchServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
}

/** Other users hold `count` locks on parts of `channel` that no writer touches (25 per connection: the default allows 32). */
async function holdLocks(server: BenchServer, channel: string, count: number): Promise<SwitchboardClient[]> {
  const holders: SwitchboardClient[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 25 === 0) holders.push(await client(server, `holder-${i / 25}`));
    await locks(holders.at(-1) as SwitchboardClient, channel).acquire(`field:held-${i}`);
  }
  return holders;
}

interface Measured {
  held: number;
  sent: number;
  applied: number;
  perSecond: number;
  serverCpuUs: number;
  serverCpuPct: number;
}

async function yjsRun(held: number): Promise<Measured> {
  const server = await BenchServer.start('switchboard');
  const name = 'doc:locks-bench';
  const holder = await holdLocks(server, name, held);
  const conns: WebSocket[] = [];
  try {
    const docs = Array.from({ length: WRITERS }, () => new Y.Doc());
    for (let w = 0; w < WRITERS; w++) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/documents/${name}?token=${encodeURIComponent(await tokenOf(`writer-${w}`))}`);
      await new Promise((r, j) => {
        ws.once('open', r);
        ws.once('error', j);
      });
      ws.send(step1Frame('y-websocket', name));
      conns.push(ws);
    }
    const before = await metric(server, 'switchboard_document_updates_total');
    await profileStart(server);
    const perWriter = Math.round((RATE * DURATION) / WRITERS);
    const cpu0 = server.cpuUs();
    const t0 = performance.now();
    let sent = 0;
    while (sent < perWriter * WRITERS) {
      const due = Math.min(perWriter * WRITERS, Math.floor(((performance.now() - t0) / 1000) * RATE) + 1);
      for (; sent < due; sent++) {
        const w = sent % WRITERS;
        // What a provider sends: the update of the transaction (its own deletions only, not the document's every one).
        let update: Uint8Array | null = null;
        const doc = docs[w] as Y.Doc;
        const take = (u: Uint8Array) => {
          update = u;
        };
        doc.once('update', take);
        doc.getMap('fields').set(`w${w}-${sent % 16}`, sent);
        if (update !== null) (conns[w] as WebSocket).send(updateFrame('y-websocket', name, update));
      }
      await sleep(2);
    }
    const deadline = Date.now() + 20_000;
    while ((await metric(server, 'switchboard_document_updates_total')) - before < sent && Date.now() < deadline) await sleep(20);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = server.cpuUs() - cpu0;
    const applied = (await metric(server, 'switchboard_document_updates_total')) - before;
    await profileStop(server, 'yjs', held);
    return { held, sent, applied, perSecond: applied / seconds, serverCpuUs: cpu / Math.max(1, applied), serverCpuPct: (cpu / 1e6 / seconds) * 100 };
  } finally {
    for (const ws of conns) ws.terminate();
    for (const h of holder) h.disconnect();
    await server.stop();
  }
}

async function recordsRun(held: number): Promise<Measured> {
  const server = await BenchServer.start('switchboard');
  const name = 'form:locks-bench';
  const holder = await holdLocks(server, name, held);
  const writers: SwitchboardClient[] = [];
  try {
    for (let w = 0; w < CONCURRENCY; w++) writers.push(await client(server, `writer-${w}`));
    const handles = writers.map((c) => records(c).open(name));
    await Promise.all(handles.map((h) => h.ready));
    await profileStart(server);
    const cpu0 = server.cpuUs();
    const t0 = performance.now();
    const end = t0 + DURATION * 1000;
    let applied = 0;
    let sent = 0;
    await Promise.all(
      handles.map(async (h, w) => {
        for (let n = 0; performance.now() < end; n++) {
          sent++;
          await h.set(`w${w}-${n % 8}`, n);
          applied++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = server.cpuUs() - cpu0;
    await profileStop(server, 'records', held);
    return { held, sent, applied, perSecond: applied / seconds, serverCpuUs: cpu / Math.max(1, applied), serverCpuPct: (cpu / 1e6 / seconds) * 100 };
  } finally {
    for (const c of writers) c.disconnect();
    for (const h of holder) h.disconnect();
    await server.stop();
  }
}

const fmt = (m: Measured) =>
  `${m.applied}/${m.sent} applied, ${Math.round(m.perSecond)}/s, ${m.serverCpuUs.toFixed(1)} µs server CPU each (${Math.round(m.serverCpuPct)} %)`;

try {
  const result: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    options: { RATE, DURATION, WRITERS, CONCURRENCY, HELD },
  };
  const yjs: Measured[] = [];
  const rec: Measured[] = [];
  // Alternated, so that a drift of the machine shows in both.
  for (const held of [0, HELD, 0, HELD]) {
    const m = await yjsRun(held);
    console.log(`yjs updates, ${held} locks held: ${fmt(m)}`);
    yjs.push(m);
  }
  for (const held of [0, HELD, 0, HELD]) {
    const m = await recordsRun(held);
    console.log(`record writes, ${held} locks held: ${fmt(m)}`);
    rec.push(m);
  }
  const mean = (ms: Measured[], held: number, f: (m: Measured) => number) => {
    const xs = ms.filter((m) => m.held === held).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const summary = {
    yjsCpuUs: { free: mean(yjs, 0, (m) => m.serverCpuUs), held: mean(yjs, HELD, (m) => m.serverCpuUs) },
    recordWritesPerSecond: { free: mean(rec, 0, (m) => m.perSecond), held: mean(rec, HELD, (m) => m.perSecond) },
    recordCpuUs: { free: mean(rec, 0, (m) => m.serverCpuUs), held: mean(rec, HELD, (m) => m.serverCpuUs) },
  };
  console.log(
    `yjs: ${summary.yjsCpuUs.free.toFixed(1)} → ${summary.yjsCpuUs.held.toFixed(1)} µs per update (×${(summary.yjsCpuUs.held / summary.yjsCpuUs.free).toFixed(2)}); ` +
      `records: ${Math.round(summary.recordWritesPerSecond.free)} → ${Math.round(summary.recordWritesPerSecond.held)} writes/s (×${(summary.recordWritesPerSecond.held / summary.recordWritesPerSecond.free).toFixed(2)}), ` +
      `${summary.recordCpuUs.free.toFixed(1)} → ${summary.recordCpuUs.held.toFixed(1)} µs each`,
  );
  writeFileSync(OUT, `${JSON.stringify({ ...result, yjs, records: rec, summary }, null, 2)}\n`);
  console.log(`wrote ${OUT}`);
} finally {
  for (const child of started) child.kill('SIGKILL');
}
