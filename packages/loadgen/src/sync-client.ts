/**
 * A client joining a document over the sync protocol without Yjs: it sends sync step 1 with
 * an empty state vector and times the server's step 2, the whole document as one update,
 * whose bytes it keeps (the markers of the light editors can be counted in them).
 */
import WebSocket from 'ws';
import { type DocumentAddress, documentUrl, type SocketOptions, socketOptions } from './light-editor.js';
import { nowUs } from './proc.js';
import { authFrame, isStep2, step1Frame, updateFrame } from './yjs-wire.js';

export interface SyncedState {
  /** From opening the socket to sync step 2, µs. */
  us: number;
  bytes: number;
  step2: Buffer;
}

export interface SyncClient {
  ws: WebSocket;
  synced: Promise<SyncedState>;
}

export interface SyncOptions extends SocketOptions {
  /** An update it sends right after step 1 (to fill a document). */
  update?: Uint8Array;
  timeoutMs?: number;
  /** Who is syncing, for the timeout's message. */
  label?: string;
}

/** Open the document at `address`; `synced` resolves at its sync step 2 (or rejects on an error or after `timeoutMs`, 60 s). */
export function openSyncClient(address: DocumentAddress, opts: SyncOptions = {}): SyncClient {
  const { wire, doc } = address;
  const t0 = nowUs();
  const ws = new WebSocket(documentUrl(address), socketOptions(opts));
  ws.binaryType = 'nodebuffer';
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const synced = new Promise<SyncedState>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${opts.label ?? 'client'}: ${doc} not synced in ${timeoutMs / 1000} s`)), timeoutMs);
    ws.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    ws.on('open', () => {
      if (wire === 'hocuspocus') ws.send(authFrame(doc, address.token));
      ws.send(step1Frame(wire, doc));
      if (opts.update) ws.send(updateFrame(wire, doc, opts.update));
    });
    const onMessage = (data: Buffer) => {
      if (!isStep2(wire, data)) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      res({ us: nowUs() - t0, bytes: data.length, step2: data });
    };
    ws.on('message', onMessage);
  });
  synced.catch(() => {});
  return { ws, synced };
}

/** Close each client with a close frame, terminated after 2 s. */
export async function closeSyncClients(clients: readonly SyncClient[]): Promise<void> {
  await Promise.all(
    clients.map(
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
}
