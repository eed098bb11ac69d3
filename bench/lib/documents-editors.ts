/**
 * A worker process of bench/documents.ts: some of the editors of one document, each
 * sending updates at a fixed rate and timing every other editor's update it receives.
 *
 * - `light`: a raw WebSocket per editor speaking the sync protocol with hand-encoded
 *   updates (lib/yjs-wire.ts); received messages are scanned for markers, never decoded.
 * - `provider`: a real provider per editor (y-websocket's WebsocketProvider, or
 *   @hocuspocus/provider for Hocuspocus) on its own Y.Doc; latency is taken when the
 *   remote update has been applied to that Y.Doc.
 *
 * Driven over IPC: `start` (connect, answer `connected`), `go` (send for warm-up + measured
 * time, then wait until every own editor received every other editor's updates or the
 * drain deadline passed, answer `done`), `stop`.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { Histogram, nowUs } from '@switchboard/loadgen';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { authFrame, isStep2, marker, scanMarkers, step1Frame, TEXT, TextAppender, updateFrame, type Wire } from './yjs-wire.js';

export interface EditorsStart {
  type: 'start';
  mode: 'light' | 'provider';
  wire: Wire;
  doc: string;
  /**
   * Global editor numbers of this worker's editors, with their tokens and the URL of their node:
   * ws://host:port/documents (Switchboard), ws://host:port (the others).
   */
  editors: EditorSpec[];
  totalEditors: number;
  ratePerEditor: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
}

export interface EditorSpec {
  id: number;
  token: string;
  url: string;
}

export interface EditorsGo {
  type: 'go';
  /** CLOCK_MONOTONIC µs at which every worker starts sending. */
  startUs: number;
}

export interface EditorsDone {
  type: 'done';
  histogram: ReturnType<Histogram['data']>;
  /** Deliveries of updates sent in the measured window. */
  measuredDeliveries: number;
  /** Every delivery counted by every own editor (warm-up included). */
  deliveries: number;
  /** Deliveries expected by every own editor (warm-up included). */
  expected: number;
  sent: number;
  /** This process's CPU over sending + drain, µs. */
  cpuUs: number;
  /** How late the sender ran behind its schedule at worst, ms. */
  maxLagMs: number;
  drainMs: number;
}

interface Editor {
  id: number;
  send(text: string): void;
  close(): void;
  received: number;
}

const PACE_MS = 2;

function send(msg: object): void {
  process.send?.(msg);
}

async function lightEditor(cfg: EditorsStart, { id, token, url: base }: EditorSpec, onMarker: (e: Editor, buf: Buffer) => void): Promise<Editor> {
  const url = cfg.wire === 'hocuspocus' ? base : `${base}/${cfg.doc}?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  ws.binaryType = 'nodebuffer';
  const appender = new TextAppender(1_000_000 + id);
  let synced = false;
  const editor: Editor = {
    id,
    received: 0,
    send: (text) => ws.send(updateFrame(cfg.wire, cfg.doc, appender.next(text))),
    close: () => ws.terminate(),
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`editor ${id}: not synced in 15 s`)), 15_000);
    ws.on('error', reject);
    ws.on('open', () => {
      if (cfg.wire === 'hocuspocus') ws.send(authFrame(cfg.doc, token));
      ws.send(step1Frame(cfg.wire, cfg.doc));
    });
    ws.on('message', (data: Buffer) => {
      if (synced) {
        onMarker(editor, data);
        return;
      }
      // The first sync step 2 answers our step 1: from then on every update counts.
      if (isStep2(cfg.wire, data)) {
        synced = true;
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return editor;
}

async function providerEditor(cfg: EditorsStart, { id, token, url }: EditorSpec, onMarker: (e: Editor, buf: Buffer) => void): Promise<Editor> {
  const doc = new Y.Doc();
  const text = doc.getText(TEXT);
  const polyfill = WebSocket as never;
  let destroy: () => void;
  let synced: () => boolean;
  if (cfg.wire === 'hocuspocus') {
    const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: polyfill });
    const provider = new HocuspocusProvider({ websocketProvider: socket, name: cfg.doc, document: doc, token });
    provider.attach();
    destroy = () => {
      provider.destroy();
      socket.destroy();
    };
    synced = () => provider.isSynced;
  } else {
    const provider = new WebsocketProvider(url, cfg.doc, doc, { WebSocketPolyfill: polyfill, params: { token }, disableBc: true });
    destroy = () => provider.destroy();
    synced = () => provider.synced;
  }
  const editor: Editor = {
    id,
    received: 0,
    send: (t) => text.insert(text.length, t),
    close: () => {
      destroy();
      doc.destroy();
    },
  };
  const deadline = Date.now() + 15_000;
  while (!synced()) {
    if (Date.now() > deadline) throw new Error(`provider ${id}: not synced in 15 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
  // Remote updates only (a local insert's transaction has no origin).
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== null && origin !== undefined) onMarker(editor, Buffer.from(update.buffer, update.byteOffset, update.byteLength));
  });
  return editor;
}

let cfg: EditorsStart | undefined;
let editors: Editor[] = [];
const histogram = new Histogram();
let measuredDeliveries = 0;
let measureFrom = 0;
let measureTo = 0;

function onMarker(editor: Editor, buf: Buffer): void {
  const now = nowUs();
  scanMarkers(buf, (from, at) => {
    if (from === editor.id) return;
    editor.received++;
    if (at >= measureFrom && at < measureTo) {
      measuredDeliveries++;
      histogram.record(now - at);
    }
  });
}

async function start(msg: EditorsStart): Promise<void> {
  cfg = msg;
  const open = msg.mode === 'light' ? lightEditor : providerEditor;
  // A few at a time: the servers see a burst of joins as editors do, without a stampede.
  for (let i = 0; i < msg.editors.length; i += 10) {
    editors.push(...(await Promise.all(msg.editors.slice(i, i + 10).map((e) => open(msg, e, onMarker)))));
  }
  send({ type: 'connected' });
}

async function go(msg: EditorsGo): Promise<void> {
  const c = cfg as EditorsStart;
  const totalMs = c.warmupMs + c.durationMs;
  const perEditor = Math.round((c.ratePerEditor * totalMs) / 1000);
  measureFrom = msg.startUs + c.warmupMs * 1000;
  measureTo = msg.startUs + totalMs * 1000;
  while (nowUs() < msg.startUs) await new Promise((r) => setTimeout(r, 1));
  const cpu0 = process.cpuUsage();
  let sent = 0;
  let maxLagMs = 0;
  // Editors are staggered over one period so that sends do not all fall in the same turn.
  const offsets = editors.map((_, i) => (i / editors.length) * (1000 / c.ratePerEditor));
  const counts = editors.map(() => 0);
  while (sent < perEditor * editors.length) {
    const elapsedMs = (nowUs() - msg.startUs) / 1000;
    for (let i = 0; i < editors.length; i++) {
      const due = Math.min(perEditor, Math.floor(((elapsedMs - (offsets[i] as number)) * c.ratePerEditor) / 1000) + 1);
      const e = editors[i] as Editor;
      while ((counts[i] as number) < due) {
        const lag = elapsedMs - ((counts[i] as number) * 1000) / c.ratePerEditor - (offsets[i] as number);
        if (lag > maxLagMs) maxLagMs = lag;
        e.send(marker(e.id, nowUs()));
        counts[i] = (counts[i] as number) + 1;
        sent++;
      }
    }
    await new Promise((r) => setTimeout(r, PACE_MS));
  }
  const expected = (c.totalEditors - 1) * perEditor;
  const drain0 = Date.now();
  const deadline = drain0 + c.drainMs;
  while (editors.some((e) => e.received < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const cpu = process.cpuUsage(cpu0);
  send({
    type: 'done',
    histogram: histogram.data(),
    measuredDeliveries,
    deliveries: editors.reduce((a, e) => a + e.received, 0),
    expected: expected * editors.length,
    sent,
    cpuUs: cpu.user + cpu.system,
    maxLagMs,
    drainMs: Date.now() - drain0,
  } satisfies EditorsDone);
}

process.on('message', (raw) => {
  const msg = raw as EditorsStart | EditorsGo | { type: 'stop' };
  const fail = (err: unknown) => {
    send({ type: 'error', message: String((err as Error)?.stack ?? err) });
  };
  if (msg.type === 'start') start(msg).catch(fail);
  else if (msg.type === 'go') go(msg).catch(fail);
  else if (msg.type === 'stop') {
    for (const e of editors) e.close();
    editors = [];
    setTimeout(() => process.exit(0), 50);
  }
});
process.on('disconnect', () => process.exit(0));
