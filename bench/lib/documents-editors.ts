/**
 * A worker process of bench/documents.ts: some of the editors of one document, each
 * sending updates at a fixed rate and timing every other editor's update it receives.
 *
 * - `light`: a raw WebSocket per editor speaking the sync protocol with hand-encoded
 *   updates (light-editor.ts of @switchboard/loadgen); received messages are scanned for markers, never decoded.
 * - `provider`: a real provider per editor (y-websocket's WebsocketProvider, or
 *   @hocuspocus/provider for Hocuspocus) on its own Y.Doc; latency is taken when the
 *   remote update has been applied to that Y.Doc.
 *
 * Driven over IPC: `start` (connect, answer `connected`), `go` (send for warm-up + measured
 * time, then wait until every own editor received every other editor's updates or the
 * drain deadline passed, answer `done`), `stop`.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { type EditOutcome, type Editor, openLightEditor, Receipts, runEditors, TEXT, type Wire } from '@switchboard/loadgen';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

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

export interface EditorsDone extends EditOutcome {
  type: 'done';
}

function send(msg: object): void {
  process.send?.(msg);
}

function lightEditor(cfg: EditorsStart, { id, token, url }: EditorSpec, onMarker: (e: Editor, buf: Buffer) => void): Promise<Editor> {
  return openLightEditor({ wire: cfg.wire, url, doc: cfg.doc, token }, id, onMarker);
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
const receipts = new Receipts();

async function start(msg: EditorsStart): Promise<void> {
  cfg = msg;
  const open = msg.mode === 'light' ? lightEditor : providerEditor;
  // A few at a time: the servers see a burst of joins as editors do, without a stampede.
  for (let i = 0; i < msg.editors.length; i += 10) {
    editors.push(...(await Promise.all(msg.editors.slice(i, i + 10).map((e) => open(msg, e, receipts.onMessage)))));
  }
  send({ type: 'connected' });
}

async function go(msg: EditorsGo): Promise<void> {
  const c = cfg as EditorsStart;
  const outcome = await runEditors(editors, receipts, {
    startUs: msg.startUs,
    ratePerEditor: c.ratePerEditor,
    warmupMs: c.warmupMs,
    durationMs: c.durationMs,
    drainMs: c.drainMs,
    totalEditors: c.totalEditors,
  });
  send({ type: 'done', ...outcome } satisfies EditorsDone);
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
