/**
 * Crash durability of documents: kill -9 the server at random instants while Hocuspocus
 * clients write to one document (each change acknowledged with `SyncStatus` once stored),
 * restart it on the same data directory, again and again. Every acknowledged change must
 * be in the document at the end, and `PRAGMA integrity_check` must say ok.
 *
 * The clients speak the Hocuspocus wire protocol directly (auth, sync step 1, updates, and
 * counting `SyncStatus` answers, which come in order), so "acknowledged" is exactly what
 * the server said. Short variant in the test run (test/features/documents/crash.test.ts).
 * The long run (100 kills):
 *   npx tsx test/long/documents-crash.ts --kills 100
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { crashMain, kill9, startServerProcess, stopAndCheck } from './server-process.js';

const DOC = 'doc:crash';
const WRITERS = 4;
/** Changes a writer has sent and not yet seen acknowledged, at most. */
const WINDOW = 32;

export interface DocumentsCrashResult {
  kills: number;
  acknowledged: number;
  missing: string[];
  integrity: string;
  durationMs: number;
}

async function token(secret: string): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ tenant: 'crash', caps: { 'doc:*': ['subscribe', 'publish'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('writer')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

function message(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarString(e, DOC);
  write(e);
  return encoding.toUint8Array(e);
}

/**
 * One writer for one server life: a fresh Y.Doc (a new client id), each change a new map
 * key; a change counts as acknowledged when its `SyncStatus` true arrives (answers come in
 * the order the changes were sent).
 */
function writer(port: number, jwt: string, id: string, acknowledged: Set<string>, alive: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/documents`);
    const doc = new Y.Doc();
    const sent: string[] = [];
    let n = 0;
    let authed = false;
    const pump = () => {
      while (authed && alive() && ws.readyState === WebSocket.OPEN && sent.length < WINDOW) {
        const key = `${id}-${n++}`;
        let update: Uint8Array | null = null;
        doc.once('update', (u: Uint8Array) => {
          update = u;
        });
        doc.getMap('keys').set(key, n);
        sent.push(key);
        ws.send(
          message((e) => {
            encoding.writeVarUint(e, 0);
            encoding.writeVarUint(e, 2);
            encoding.writeVarUint8Array(e, update as unknown as Uint8Array);
          }),
        );
      }
    };
    ws.on('open', () =>
      ws.send(
        message((e) => {
          encoding.writeVarUint(e, 2);
          encoding.writeVarUint(e, 0);
          encoding.writeVarString(e, jwt);
        }),
      ),
    );
    ws.on('message', (data: Buffer) => {
      if (data.length === 1) return; // the connection's ping
      const d = decoding.createDecoder(data);
      decoding.readVarString(d);
      const type = decoding.readVarUint(d);
      if (type === 2 && decoding.readVarUint(d) === 2) {
        authed = true;
        pump();
      } else if (type === 8 && decoding.readVarInt(d) === 1) {
        const key = sent.shift();
        if (key !== undefined) acknowledged.add(key);
        pump();
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      doc.destroy();
      resolve();
    });
  });
}

/** The document's keys as a fresh client reads them (sync step 1 from an empty state). */
function readKeys(port: number, jwt: string): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/documents/${DOC}?token=${jwt}`);
    const doc = new Y.Doc();
    ws.on('open', () => ws.send(Uint8Array.from([0, 0, 1, 0])));
    ws.on('message', (data: Buffer) => {
      const d = decoding.createDecoder(data);
      if (decoding.readVarUint(d) !== 0 || decoding.readVarUint(d) !== 1) return;
      Y.applyUpdate(doc, decoding.readVarUint8Array(d));
      resolve(new Set(doc.getMap('keys').keys()));
      ws.close();
    });
    ws.on('error', reject);
  });
}

export async function runDocumentsCrash(options: {
  kills: number;
  maxLifeMs: number;
  onProgress?(n: number, acked: number): void;
}): Promise<DocumentsCrashResult> {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-docs-crash-'));
  const secret = randomBytes(32).toString('base64url');
  const jwt = await token(secret);
  const acknowledged = new Set<string>();
  for (let k = 0; k < options.kills; k++) {
    const s = await startServerProcess(dataDir, secret);
    let alive = true;
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(s.port, jwt, `l${k}w${w}`, acknowledged, () => alive));
    // A random lifetime: when the kill -9 lands is what the run varies, not a wait for a condition.
    await new Promise((r) => setTimeout(r, Math.random() * options.maxLifeMs));
    await kill9(s.child);
    alive = false;
    await Promise.all(writers);
    options.onProgress?.(k + 1, acknowledged.size);
  }
  const s = await startServerProcess(dataDir, secret);
  const present = await readKeys(s.port, jwt);
  const integrity = await stopAndCheck(s, dataDir);
  const missing = [...acknowledged].filter((key) => !present.has(key));
  return { kills: options.kills, acknowledged: acknowledged.size, missing, integrity, durationMs: Date.now() - started };
}

if (import.meta.url === `file://${process.argv[1]}`) await crashMain({ kills: '100', maxLife: '600' }, runDocumentsCrash);
