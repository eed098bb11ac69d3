import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { closeSyncClients, nowUs, openSyncClient, type SyncClient, TEXT, TextAppender, waitQuiet } from '@switchboard/loadgen';
import * as Y from 'yjs';
import type { Options } from './documents-options.js';
import type { JoinRun, MemoryRun, ServerName } from './documents-report.js';
import { BenchServer, log, SPECS, sleep, token } from './documents-servers.js';

/** Scenarios 3 and 4 of bench/documents.ts: new clients syncing a large document, and memory per loaded document. */

/** A light client of `docName` on the node of client number `client` (round-robin over the nodes). */
function openLight(server: BenchServer, docName: string, tok: string, update?: Buffer, client = 0): SyncClient {
  const spec = SPECS[server.name];
  return openSyncClient(
    { wire: spec.wire, url: server.urlOf(client), doc: docName, token: tok },
    { maxPayload: 256 * 1024 * 1024, timeoutMs: 60_000, label: server.name, ...(update ? { update } : {}) },
  );
}

/** A text document of at least `kb` KB (its encoded state) in many items (inserts at pseudo-random places, as editing leaves it). */
export function largeDocument(kb: number): Uint8Array {
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

export async function joinRun(opts: Options, name: ServerName, update: Uint8Array): Promise<JoinRun> {
  const spec = SPECS[name];
  const server = await BenchServer.start(name);
  const conns: SyncClient[] = [];
  try {
    const docName = spec.doc('large');
    const tok = name === 'switchboard' ? await token('joiner') : 'bench';
    // One holder per node keeps the document loaded there (Hocuspocus unloads a document without connections).
    const holder = openLight(server, docName, tok, Buffer.from(update));
    conns.push(holder);
    await holder.synced;
    for (let node = 1; node < server.pids.length; node++) {
      const other = openLight(server, docName, tok, undefined, node);
      conns.push(other);
      await other.synced;
    }
    // Wait until a fresh client gets the whole state on every node (Switchboard stores it first).
    const deadline = Date.now() + 30_000;
    let first = 0;
    for (let node = 0; node < server.pids.length; node++) {
      for (;;) {
        const probe = openLight(server, docName, tok, undefined, node);
        const s = await probe.synced;
        await closeSyncClients([probe]);
        if (node === 0) first = s.bytes;
        if (s.bytes >= update.length * 0.9 || Date.now() > deadline) break;
        await sleep(200);
      }
    }
    await waitQuiet(server.pids, opts.quietWait, log);
    const times: number[] = [];
    const profileFile = opts.profile ? join(opts.profile, `documents-${name}-sync.cpuprofile`) : undefined;
    if (profileFile) await server.profile('start');
    const cpu0 = server.cpuUs();
    for (let i = 0; i < opts.joins; i++) {
      const c = openLight(server, docName, tok, undefined, i);
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
      await closeSyncClients([c]);
    }
    const seqCpu = server.cpuUs() - cpu0;
    if (profileFile) {
      mkdirSync(dirname(profileFile), { recursive: true });
      await server.profile('stop', profileFile);
    }
    const sorted = [...times].sort((a, b) => a - b);
    await sleep(500);
    const cpu1 = server.cpuUs();
    const t0 = nowUs();
    const burst = Array.from({ length: opts.joiners }, (_, i) => openLight(server, docName, tok, undefined, i));
    const burstTimes = await Promise.all(burst.map((c) => c.synced.then((s) => s.us / 1000)));
    const burstWallMs = (nowUs() - t0) / 1000;
    const burstCpu = server.cpuUs() - cpu1;
    await closeSyncClients(burst);
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
    await closeSyncClients(conns);
    await server.stop();
  }
}

export async function memoryRun(opts: Options, name: ServerName): Promise<MemoryRun> {
  const spec = SPECS[name];
  const server = await BenchServer.start(name);
  let conns: SyncClient[] = [];
  try {
    const tok = name === 'switchboard' ? await token('memory') : 'bench';
    // Warm the code paths with one document first, so the baseline holds the code's own heap.
    const warm = openLight(server, spec.doc('warm'), tok, new TextAppender(1).next('warm'));
    await warm.synced;
    await closeSyncClients([warm]);
    // More documents, kept open with their clients through the measurement and left quiet as
    // long as the measured ones will be: the code compiled and the caches filled while
    // documents open are in the baseline, and these documents are in the same state at both reads.
    const kept: SyncClient[] = [];
    if (opts.memoryWarm > 1) {
      for (let i = 0; i < opts.memoryWarm; i += 50) {
        const batch = Array.from({ length: Math.min(50, opts.memoryWarm - i) }, (_, k) =>
          openLight(server, spec.doc(`w-${i + k}`), tok, new TextAppender(20_000 + i + k).next(`Warm paragraph ${i + k}. `.repeat(4))),
        );
        await Promise.all(batch.map((c) => c.synced));
        kept.push(...batch);
      }
      conns.push(...kept);
      await sleep(opts.memoryQuiet * 1000);
    }
    await sleep(500);
    const before = await server.stats();
    const rss0 = server.rssBytes();
    for (let i = 0; i < opts.documents; i += 50) {
      const batch = Array.from({ length: Math.min(50, opts.documents - i) }, (_, k) => {
        const n = i + k;
        // Each document holds one small paragraph.
        return openLight(server, spec.doc(`m-${n}`), tok, new TextAppender(10_000 + n).next(`Paragraph ${n}: a few words that one editor typed. `.repeat(2)));
      });
      await Promise.all(batch.map((c) => c.synced));
      conns.push(...batch);
    }
    await sleep(opts.memoryQuiet * 1000);
    const withClients = await server.stats();
    const rss1 = server.rssBytes();
    await closeSyncClients(conns.filter((c) => !kept.includes(c)));
    conns = kept;
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
      quietS: opts.memoryQuiet,
      warmDocuments: opts.memoryWarm,
      ...(name === 'switchboard' && opts.hibernateAfter !== undefined ? { hibernateAfter: opts.hibernateAfter } : {}),
    };
    log(
      `  ${name} ${n} documents: heap ${run.heapKBPerDocumentWithClient.toFixed(1)} KB/document with a client, ${run.heapKBPerDocumentNoClient.toFixed(1)} KB without; RSS ${run.rssKBPerDocumentWithClient.toFixed(1)} KB/document with a client`,
    );
    return run;
  } finally {
    await closeSyncClients(conns);
    await server.stop();
  }
}
