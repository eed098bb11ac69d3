import { mintToken } from '@switchboard/server';
import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

/** The subscribers of bench/compression.ts, shared by the harness and its subscriber processes. */

export type Target = 'switchboard' | 'ws' | 'socketio';
export const TARGETS: readonly Target[] = ['switchboard', 'ws', 'socketio'];
export const CHANNEL = 'project:zip';

/** A ~2 KB JSON document: 18 rows of a dashboard, values varying per publication. */
export function payload(n: number): Record<string, unknown> {
  const rows = Array.from({ length: 18 }, (_, i) => ({
    id: `row-${i}`,
    name: `Service ${String.fromCharCode(65 + i)} ${['eu-west', 'us-east', 'ap-south'][i % 3]}`,
    status: ['ok', 'degraded', 'down'][(n + i) % 7 === 0 ? 1 : 0],
    latencyMs: Math.round(((n * 31 + i * 17) % 997) / 7),
    requests: 10_000 + ((n * 7919 + i * 104_729) % 50_000),
    errorRate: (((n + i) * 13) % 100) / 1000,
  }));
  return { n, kind: 'dashboard', updatedAt: 1_700_000_000_000 + n * 10, rows };
}

/** Counts deliveries and checks each against `payload(n)`, byte for byte once serialised. */
export class PayloadCheck {
  readonly #expected: string[];
  deliveries = 0;
  intact = true;

  constructor(publications: number) {
    this.#expected = Array.from({ length: publications }, (_, n) => JSON.stringify(payload(n)));
  }

  readonly onData = (data: { n: number }): void => {
    this.deliveries++;
    if (JSON.stringify(data) !== this.#expected[data.n]) this.intact = false;
  };
}

/** One subscriber of a target: how it subscribes and reads. */
export interface Peer {
  subscribed: Promise<void>;
  /** Whether the connection negotiated permessage-deflate. */
  deflate(): boolean;
  /** Why the connection closed before `close()` (the server or the network closed it), if it did. */
  lost(): string | undefined;
  close(): void;
}

export type OnData = (data: { n: number }) => void;

function openWs(
  url: string,
  first: string[],
  isSubscribed: (msg: Record<string, unknown>) => boolean,
  onData: OnData,
  pick: (msg: Record<string, unknown>) => unknown,
): Peer {
  const ws = new WebSocket(url);
  let done: () => void;
  const subscribed = new Promise<void>((r) => {
    done = r;
  });
  ws.on('open', () => ws.send(first.join('\n')));
  ws.on('message', (raw: Buffer) => {
    for (const line of raw.toString('utf8').split('\n')) {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (isSubscribed(msg)) done();
      const data = pick(msg);
      if (data !== undefined) onData(data as { n: number });
    }
  });
  ws.on('error', () => {});
  let lost: string | undefined;
  let closing = false;
  ws.on('close', (code) => {
    if (!closing) lost = `closed ${code}`;
  });
  return {
    subscribed,
    deflate: () => ws.extensions.includes('permessage-deflate'),
    lost: () => lost,
    close: () => {
      closing = true;
      ws.terminate();
    },
  };
}

/** A subscriber of `CHANNEL` on the target at `port` that negotiates permessage-deflate. */
export async function peer(target: Target, port: number, secret: string, user: string, onData: OnData): Promise<Peer> {
  if (target === 'socketio') {
    const token = await mintToken(secret, { sub: user, tenant: 'bench', caps: {} });
    const socket: Socket = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], auth: { token }, reconnection: false });
    socket.on('pub', (data: { n: number }) => onData(data));
    const subscribed = new Promise<void>((resolve) => socket.on('connect', () => socket.emit('join', CHANNEL, () => resolve())));
    const engineWs = () => (socket.io.engine as unknown as { transport: { ws?: WebSocket } }).transport.ws;
    let lost: string | undefined;
    socket.on('disconnect', (reason) => {
      if (reason !== 'io client disconnect') lost = reason;
    });
    return {
      subscribed,
      deflate: () => engineWs()?.extensions.includes('permessage-deflate') ?? false,
      lost: () => lost,
      close: () => socket.disconnect(),
    };
  }
  if (target === 'ws') {
    return openWs(
      `ws://127.0.0.1:${port}`,
      [JSON.stringify({ type: 'sub', channel: CHANNEL })],
      (m) => m['type'] === 'subok',
      onData,
      (m) => (m['type'] === 'pub' ? m['data'] : undefined),
    );
  }
  const token = await mintToken(secret, { sub: user, tenant: 'bench', caps: { 'project:*': ['subscribe', 'publish'] } });
  return openWs(
    `ws://127.0.0.1:${port}/ws`,
    [JSON.stringify({ id: 1, method: 'connect', params: { token } }), JSON.stringify({ id: 2, method: 'subscribe', params: { channel: CHANNEL } })],
    (m) => m['id'] === 2,
    onData,
    (m) => (m['push'] === 'pub' ? m['data'] : undefined),
  );
}

/** Opens `count` subscribers (users `u<first>`…) 100 at a time, each batch subscribed within 30 s. */
export async function openPeers(target: Target, port: number, secret: string, first: number, count: number, onData: OnData): Promise<Peer[]> {
  const subs: Peer[] = [];
  try {
    for (let at = 0; at < count; at += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, count - at) }, (_, k) => peer(target, port, secret, `u${first + at + k}`, onData)));
      subs.push(...batch);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(batch.map((s) => s.subscribed)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('subscribe timed out')), 30_000);
        }),
      ]).finally(() => clearTimeout(timer));
    }
  } catch (err) {
    for (const s of subs) s.close();
    throw err;
  }
  return subs;
}
