/**
 * Light editors of one document: a raw WebSocket per editor speaking the sync protocol with
 * hand-encoded updates (yjs-wire.ts), each sending at a fixed rate and timing every other
 * editor's update it receives from the marker in it (received messages are scanned, never
 * decoded). Run by the fleet's workers for `switchboard bench documents` and by the editor
 * workers of bench/documents.ts.
 */
import WebSocket from 'ws';
import { Histogram, type HistogramData } from './histogram.js';
import { nowUs, sleep } from './proc.js';
import { authFrame, isStep2, marker, scanMarkers, step1Frame, TextAppender, updateFrame, type Wire } from './yjs-wire.js';

/** One editor: sends its updates, counts the other editors' updates it received. */
export interface Editor {
  id: number;
  send(text: string): void;
  close(): void;
  received: number;
}

/** Where a document is opened: the base URL, then the name and token in the URL (y-websocket) or in messages (Hocuspocus). */
export interface DocumentAddress {
  wire: Wire;
  /** ws://host:port/documents (Switchboard), ws://host:port (the others). */
  url: string;
  doc: string;
  token: string;
}

/** The URL a client of `address` opens. */
export function documentUrl(address: DocumentAddress): string {
  return address.wire === 'hocuspocus' ? address.url : `${address.url}/${address.doc}?token=${encodeURIComponent(address.token)}`;
}

/** Options of the socket of one light client (a source address of the fleet's, the largest message it takes). */
export interface SocketOptions {
  localAddress?: string;
  maxPayload?: number;
}

/** Only the options given: ws takes an `undefined` as a value, not as its default. */
export function socketOptions(opts: SocketOptions): WebSocket.ClientOptions {
  return {
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
    ...(opts.maxPayload === undefined ? {} : { maxPayload: opts.maxPayload }),
  };
}

/**
 * Open editor `id`: resolves once its sync step 1 is answered (from then on every update
 * counts); `onMessage` gets each message after that, `onClose` the close code of a socket
 * that closed afterwards.
 */
export async function openLightEditor(
  address: DocumentAddress,
  id: number,
  onMessage: (e: Editor, buf: Buffer) => void,
  opts: SocketOptions & { timeoutMs?: number; onClose?: (e: Editor, code: number) => void } = {},
): Promise<Editor> {
  const ws = new WebSocket(documentUrl(address), socketOptions(opts));
  ws.binaryType = 'nodebuffer';
  const appender = new TextAppender(1_000_000 + id);
  let synced = false;
  const editor: Editor = {
    id,
    received: 0,
    send: (text) => ws.send(updateFrame(address.wire, address.doc, appender.next(text))),
    close: () => ws.terminate(),
  };
  const timeoutMs = opts.timeoutMs ?? 15_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`editor ${id}: not synced in ${timeoutMs / 1000} s`)), timeoutMs);
    ws.on('error', reject);
    ws.on('open', () => {
      if (address.wire === 'hocuspocus') ws.send(authFrame(address.doc, address.token));
      ws.send(step1Frame(address.wire, address.doc));
    });
    ws.on('message', (data: Buffer) => {
      if (synced) {
        onMessage(editor, data);
        return;
      }
      // The first sync step 2 answers our step 1: from then on every update counts.
      if (isStep2(address.wire, data)) {
        synced = true;
        clearTimeout(timer);
        resolve();
      }
    });
  }).catch((err: unknown) => {
    ws.terminate();
    throw err;
  });
  ws.on('close', (code) => opts.onClose?.(editor, code));
  return editor;
}

/**
 * The other editors' updates each editor receives, timed send → receipt for those sent in the
 * measured window (`setWindow`); `recent` holds the latencies since the progress line last read it.
 */
export class Receipts {
  readonly histogram = new Histogram();
  readonly recent = new Histogram();
  measured = 0;
  #from = 0;
  #to = 0;

  setWindow(fromUs: number, toUs: number): void {
    this.#from = fromUs;
    this.#to = toUs;
  }

  readonly onMessage = (editor: Editor, buf: Buffer): void => {
    const now = nowUs();
    scanMarkers(buf, (from, at) => {
      if (from === editor.id) return;
      editor.received++;
      if (at >= this.#from && at < this.#to) {
        this.measured++;
        this.histogram.record(now - at);
        this.recent.record(now - at);
      }
    });
  };
}

/** One edit phase: every editor of every process starts at `startUs` and sends `ratePerEditor` updates/s for warm-up + measured time. */
export interface EditPlan {
  /** CLOCK_MONOTONIC µs at which every process starts sending. */
  startUs: number;
  ratePerEditor: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  /** Editors over every process (each receives the updates of all but itself). */
  totalEditors: number;
}

export interface EditOutcome {
  histogram: HistogramData;
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

const PACE_MS = 2;

/** Updates each editor sends in a phase. */
export const updatesPerEditor = (plan: Pick<EditPlan, 'ratePerEditor' | 'warmupMs' | 'durationMs'>): number =>
  Math.round((plan.ratePerEditor * (plan.warmupMs + plan.durationMs)) / 1000);

/**
 * Send every editor's updates on schedule, then wait until every editor received every other
 * editor's updates or the drain deadline passed.
 */
export async function runEditors(editors: readonly Editor[], receipts: Receipts, plan: EditPlan): Promise<EditOutcome> {
  const totalMs = plan.warmupMs + plan.durationMs;
  const perEditor = updatesPerEditor(plan);
  receipts.setWindow(plan.startUs + plan.warmupMs * 1000, plan.startUs + totalMs * 1000);
  while (nowUs() < plan.startUs) await sleep(1);
  const cpu0 = process.cpuUsage();
  let sent = 0;
  let maxLagMs = 0;
  // Editors are staggered over one period so that sends do not all fall in the same turn.
  const offsets = editors.map((_, i) => (i / editors.length) * (1000 / plan.ratePerEditor));
  const counts = editors.map(() => 0);
  while (sent < perEditor * editors.length) {
    const elapsedMs = (nowUs() - plan.startUs) / 1000;
    for (let i = 0; i < editors.length; i++) {
      const due = Math.min(perEditor, Math.floor(((elapsedMs - (offsets[i] as number)) * plan.ratePerEditor) / 1000) + 1);
      const e = editors[i] as Editor;
      while ((counts[i] as number) < due) {
        const lag = elapsedMs - ((counts[i] as number) * 1000) / plan.ratePerEditor - (offsets[i] as number);
        if (lag > maxLagMs) maxLagMs = lag;
        e.send(marker(e.id, nowUs()));
        counts[i] = (counts[i] as number) + 1;
        sent++;
      }
    }
    await sleep(PACE_MS);
  }
  const expected = (plan.totalEditors - 1) * perEditor;
  const drain0 = Date.now();
  const deadline = drain0 + plan.drainMs;
  while (editors.some((e) => e.received < expected) && Date.now() < deadline) await sleep(10);
  const cpu = process.cpuUsage(cpu0);
  return {
    histogram: receipts.histogram.data(),
    measuredDeliveries: receipts.measured,
    deliveries: editors.reduce((a, e) => a + e.received, 0),
    expected: expected * editors.length,
    sent,
    cpuUs: cpu.user + cpu.system,
    maxLagMs,
    drainMs: Date.now() - drain0,
  };
}
