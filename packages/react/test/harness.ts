import { type ClientOptions, SwitchboardClient } from '@switchboard/client';
import type { FeatureModule } from '@switchboard/server';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../../../test/helpers/server.js';

/** What the server saw, counted by its own hooks. */
export class ServerCounts {
  connects = 0;
  disconnects = 0;
  /** Live subscriptions by channel. */
  readonly subscriptions = new Map<string, number>();
  /** Subscribes by channel, ever. */
  readonly subscribes = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  feature(): FeatureModule {
    const bump = (map: Map<string, number>, channel: string, by: number) => map.set(channel, (map.get(channel) ?? 0) + by);
    return {
      name: 'counts',
      hooks: {
        onConnect: () => this.#changed(() => this.connects++),
        onDisconnect: () => this.#changed(() => this.disconnects++),
        afterSubscribe: ({ channel }) =>
          this.#changed(() => {
            bump(this.subscriptions, channel.channel, 1);
            bump(this.subscribes, channel.channel, 1);
          }),
        onUnsubscribe: ({ channel }) => this.#changed(() => bump(this.subscriptions, channel.channel, -1)),
      },
    };
  }

  live(channel: string): number {
    return this.subscriptions.get(channel) ?? 0;
  }

  #changed(change: () => void): void {
    change();
    for (const w of [...this.#waiters]) w();
  }

  /** Resolve once `check()` holds, re-checked after every counted event. */
  until(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
    return condition(check, what, timeoutMs, (w) => {
      this.#waiters.add(w);
      return () => this.#waiters.delete(w);
    });
  }
}

/** Resolve once `check()` holds, re-checked whenever `watch` calls back; reject after `timeoutMs`. */
export function condition(check: () => boolean, what: string, timeoutMs: number, watch: (wake: () => void) => () => void): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const stop = watch(() => {
      if (!check()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

/** Values a component rendered, in order, and a way to wait for one. */
export class Recorder<T> {
  readonly values: T[] = [];
  readonly #waiters = new Set<() => void>();

  get renders(): number {
    return this.values.length;
  }

  get last(): T | undefined {
    return this.values.at(-1);
  }

  push(value: T): void {
    this.values.push(value);
    // After the render: a waiter may read the DOM or the hook's value.
    queueMicrotask(() => {
      for (const w of [...this.#waiters]) w();
    });
  }

  until(check: (last: T) => boolean, what: string, timeoutMs = 8000): Promise<void> {
    return condition(
      () => this.values.length > 0 && check(this.values.at(-1) as T),
      what,
      timeoutMs,
      (w) => {
        this.#waiters.add(w);
        return () => this.#waiters.delete(w);
      },
    );
  }
}

export interface Harness {
  server: TestServer;
  counts: ServerCounts;
  client(sub: string, options?: ClientOptions): SwitchboardClient;
  close(): Promise<void>;
}

/** A real server on port 0 that counts connections and subscriptions, and SDK clients for it. */
export async function harness(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<Harness> {
  const counts = new ServerCounts();
  const server = await startTestServer({ features: [counts.feature()], ...overrides });
  const clients: SwitchboardClient[] = [];
  return {
    server,
    counts,
    client(sub, options = {}) {
      const c = new SwitchboardClient(server.url, {
        getToken: () => server.token({ sub }),
        WebSocket,
        backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
        ...options,
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.disconnect();
      await server.close();
    },
  };
}
