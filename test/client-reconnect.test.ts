import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ClientOptions,
  type PublishResult,
  type ReconnectingEvent,
  type SocketCloseEvent,
  type SocketEvent,
  type SocketMessageEvent,
  SwitchboardClient,
  type WebSocketLike,
} from '@switchboard/client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor, waitUntil } from '../packages/client/test/wait-for.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(server: () => TestServer, sub: string, options: ClientOptions = {}): SwitchboardClient {
  const c = new SwitchboardClient(server().url, {
    getToken: () => server().token({ sub }),
    WebSocket,
    backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
    ...options,
  });
  cleanups.push(() => c.disconnect());
  return c;
}

describe('client SDK against the real server: reconnect', () => {
  it('reconnects with backoff after a restart, resubscribes, and delivers offline publishes exactly once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-client-restart-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let server = await startTestServer({ keepDataDir: dataDir });
    cleanups.push(() => server.close());
    const port = server.port;

    const alice = client(() => server, 'alice');
    const sub = alice.subscribe<string>('project:restart');
    const received: string[] = [];
    sub.on('publication', (p) => received.push(p.data));
    alice.connect();
    await waitFor(sub, 'subscribed');
    await sub.publish('before');
    await waitUntil(sub, 'publication', () => received.includes('before'));

    const reconnects: ReconnectingEvent[] = [];
    alice.on('reconnecting', (e) => reconnects.push(e));
    const lost = waitFor(alice, 'connecting');
    await server.close();
    expect((await lost).code).toBe(3001);

    // Published while the server is down: queued, each with its idempotency key.
    const queued: Array<Promise<PublishResult>> = [sub.publish('offline-1'), alice.publish('project:restart', 'offline-2')];
    // Let a few attempts fail against the closed port, so the backoff grows.
    await waitUntil(alice, 'reconnecting', () => reconnects.length >= 4, 10_000);

    const resubscribed = waitFor(sub, 'subscribed');
    server = await startTestServer({ port, keepDataDir: dataDir });
    await waitFor(alice, 'connected', () => true, 10_000);
    const subscribed = await resubscribed;
    expect(subscribed.wasRecovering).toBe(true);
    const results = await Promise.all(queued);
    await waitUntil(sub, 'publication', () => received.includes('offline-2'));

    expect(received).toEqual(['before', 'offline-1', 'offline-2']);
    const history = await sub.history({ limit: 100 });
    const data = history.publications.map((p) => p.data);
    expect(data.filter((d) => d === 'offline-1')).toHaveLength(1);
    expect(data.filter((d) => d === 'offline-2')).toHaveLength(1);
    expect(results[1]!.offset).toBe(results[0]!.offset + 1);

    expect(reconnects[0]).toMatchObject({ code: 3001, attempt: 1 });
    expect(reconnects.slice(1, 4).map((e) => e.code)).toEqual([1006, 1006, 1006]);
    for (const e of reconnects) {
      expect(e.delay).toBeGreaterThanOrEqual(50);
      expect(e.delay).toBeLessThanOrEqual(400 + (e.code === 3001 ? 50 : 0));
    }
    expect(reconnects.map((e) => e.attempt).slice(0, 4)).toEqual([1, 2, 3, 4]);
  });

  it('delivers a publish whose reply was lost exactly once: retried with the same key, deduplicated by the server', async () => {
    const server = await startTestServer();
    cleanups.push(() => server.close());
    const dropped = { count: 0 };
    const alice = client(() => server, 'alice', { WebSocket: replyDroppingWebSocket(dropped) });
    const bob = client(() => server, 'bob');
    const watch = bob.subscribe<string>('project:lost-reply');
    const seen: string[] = [];
    watch.on('publication', (p) => seen.push(p.data));
    bob.connect();
    alice.connect();
    await Promise.all([waitFor(watch, 'subscribed'), waitFor(alice, 'connected')]);

    const result = await alice.publish('project:lost-reply', 'once');
    expect(dropped.count).toBe(1);
    expect(result.deduplicated).toBe(true);
    await waitUntil(watch, 'publication', () => seen.length >= 1);
    await bob.publish('project:lost-reply', 'marker');
    await waitUntil(watch, 'publication', () => seen.includes('marker'));
    expect(seen).toEqual(['once', 'marker']);
  });
});

/**
 * A `ws` socket that loses the reply to the first publish, as a network drop would:
 * the server has applied the publish, the client never hears back.
 */
function replyDroppingWebSocket(dropped: { count: number }) {
  let publishId: number | null = null;
  return class ReplyDroppingSocket implements WebSocketLike {
    readonly #ws: WebSocket;
    constructor(url: string) {
      this.#ws = new WebSocket(url);
    }
    get readyState(): number {
      return this.#ws.readyState;
    }
    send(data: string): void {
      for (const line of data.split('\n')) {
        const frame = JSON.parse(line) as { id?: number; method?: string };
        if (frame.method === 'publish' && publishId === null && dropped.count === 0) publishId = frame.id ?? null;
      }
      this.#ws.send(data);
    }
    close(code?: number, reason?: string): void {
      this.#ws.close(code, reason);
    }
    addEventListener(type: 'open' | 'error', listener: (event: SocketEvent) => void): void;
    addEventListener(type: 'message', listener: (event: SocketMessageEvent) => void): void;
    addEventListener(type: 'close', listener: (event: SocketCloseEvent) => void): void;
    addEventListener(type: 'open' | 'error' | 'message' | 'close', listener: (event: never) => void): void {
      if (type !== 'message') {
        this.#ws.addEventListener(type, listener as () => void);
        return;
      }
      this.#ws.addEventListener('message', (event) => {
        const text = String(event.data);
        if (publishId !== null && text.split('\n').some((l) => (JSON.parse(l) as { id?: number }).id === publishId)) {
          publishId = null;
          dropped.count += 1;
          this.#ws.terminate();
          return;
        }
        (listener as (e: SocketMessageEvent) => void)({ data: text });
      });
    }
  };
}
