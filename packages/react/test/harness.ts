import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClientOptions, SwitchboardClient } from '@switchboard/client';
import type { FeatureModule } from '@switchboard/server';
import { createElement, type ReactNode, StrictMode } from 'react';
import { createRoot, type Root, type RootOptions } from 'react-dom/client';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer, type TestTokenClaims } from '../../../test/helpers/server.js';
import { SwitchboardProvider, type SwitchboardProviderProps } from '../src/index.js';

// The React tests wait for what renders themselves (Recorder, Screen.until), not through act().
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

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

export type HarnessOptions = Parameters<typeof startTestServer>[0] & {
  /** Keep the server's data in a directory of the harness, so that `stop()` and `start()` can restart it on its port. */
  restartable?: boolean;
};

export interface Harness {
  /** The running server (a new one after `start()`). */
  readonly server: TestServer;
  counts: ServerCounts;
  /** An SDK client of user `sub` (its token carries `claims` too), disconnected by `close()`. */
  client(sub: string, options?: ClientOptions, claims?: Omit<TestTokenClaims, 'sub'>): SwitchboardClient;
  /** Provider props for `kind`: a URL and `getToken` for `alice`, or a client of hers that nothing connects. */
  provider(kind: 'url' | 'client'): { props: SwitchboardProviderProps; client: SwitchboardClient };
  /** The server's `switchboard_connections` gauge, read from `/metrics`. */
  connections(): Promise<number>;
  /** Stop the server (a `restartable` harness can `start()` it again). */
  stop(): Promise<void>;
  /** Start a `restartable` server again on its port, with its data. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A real server on port 0 that counts connections and subscriptions, and SDK clients for it. */
export async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const { restartable, ...overrides } = options;
  const counts = new ServerCounts();
  const dataDir = restartable ? mkdtempSync(join(tmpdir(), 'sb-react-')) : undefined;
  const start = (port?: number) =>
    startTestServer({ features: [counts.feature()], ...overrides, ...(dataDir ? { keepDataDir: dataDir } : {}), ...(port ? { port } : {}) });
  let server = await start();
  let running = true;
  const clients: SwitchboardClient[] = [];
  const t: Harness = {
    get server() {
      return server;
    },
    counts,
    client(sub, options = {}, claims = {}) {
      const c = new SwitchboardClient(server.url, {
        getToken: () => server.token({ sub, ...claims }),
        WebSocket,
        backoff: { minDelay: 50, maxDelay: 400, shutdownJitter: 50 },
        ...options,
      });
      clients.push(c);
      return c;
    },
    provider(kind) {
      const client = t.client('alice');
      return { client, props: kind === 'url' ? { url: server.url, getToken: () => server.token({ sub: 'alice' }), options: { WebSocket } } : { client } };
    },
    async connections() {
      const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
      return Number(/^switchboard_connections (\d+)$/m.exec(metrics)?.[1] ?? Number.NaN);
    },
    async stop() {
      running = false;
      await server.close();
    },
    async start() {
      if (!dataDir) throw new Error('start() needs a restartable harness');
      server = await start(server.port);
      running = true;
    },
    async close() {
      for (const c of clients) c.disconnect();
      if (running) await server.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

/** What a test file's tests share: see `perTest()`. */
export interface PerTest {
  /** A harness for this test, closed after it. */
  harness(options?: HarnessOptions): Promise<Harness>;
  /** A React root in a new element (or `container`), unmounted after the test. */
  root(container?: Element, options?: RootOptions): Root;
  /** Run `undo` after this test, before its roots are unmounted (put back a global the test replaced). */
  after(undo: () => void): void;
  /** A root rendering `children` under a provider of `client`. */
  render(client: SwitchboardClient, ...children: ReactNode[]): Root;
  /** The same in `StrictMode`. */
  strict(client: SwitchboardClient, ...children: ReactNode[]): Root;
}

/**
 * The set-up every React test file repeats: a harness per test and React roots, released
 * after each test — first `first` (unmount screens, put globals back) and what the test gave
 * `after()`, then the roots, then the harness.
 */
export function perTest(...first: Array<() => void>): PerTest {
  const roots: Root[] = [];
  const undos: Array<() => void> = [];
  let current: Harness | null = null;
  afterEach(async () => {
    for (const undo of [...first, ...undos.splice(0)]) undo();
    for (const r of roots.splice(0)) r.unmount();
    await current?.close();
    current = null;
  });
  const root = (container: Element = document.createElement('div'), options?: RootOptions) => {
    const r = createRoot(container, options);
    roots.push(r);
    return r;
  };
  const show = (tree: ReactNode) => {
    const r = root();
    r.render(tree);
    return r;
  };
  return {
    async harness(options) {
      current = await harness(options);
      return current;
    },
    root,
    after: (undo) => undos.push(undo),
    render: (client, ...children) => show(createElement(SwitchboardProvider, { client }, ...children)),
    strict: (client, ...children) => show(createElement(StrictMode, null, createElement(SwitchboardProvider, { client }, ...children))),
  };
}
