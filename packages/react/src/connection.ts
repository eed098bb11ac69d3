import type { ClientState, SwitchboardClient } from '@switchboard/client';
import { Store } from './store.js';

/** What `useConnectionStatus` returns. */
export interface ConnectionStatus {
  readonly state: ClientState;
  /** The code and reason of the last transition (a close code, a reply error, or a `ClientCode`). */
  readonly code: number | null;
  readonly reason: string | null;
  /** While waiting to reconnect: milliseconds from `reconnectingSince` to the next attempt. */
  readonly reconnectIn: number | null;
  /** When the wait began (Unix ms), so a badge can count down. */
  readonly reconnectingSince: number | null;
  /** Publishes made through the hooks that wait for a connection (the offline queue). */
  readonly queued: number;
}

/** Every status's shape before the client exists (and on the server). */
export const NO_CONNECTION: ConnectionStatus = Object.freeze({
  state: 'disconnected',
  code: null,
  reason: null,
  reconnectIn: null,
  reconnectingSince: null,
  queued: 0,
});

/** The connection status of one client, and the count of hook publishes waiting offline. */
export class ConnectionStore {
  #offs: Array<() => void> = [];
  #queued = 0;
  readonly store: Store<ConnectionStatus>;

  constructor(readonly client: SwitchboardClient) {
    this.store = new Store<ConnectionStatus>({ ...NO_CONNECTION, state: client.state }, { start: () => this.#start(), stop: () => this.#stop() });
  }

  private set(next: ConnectionStatus): void {
    this.store.set(next);
  }

  private get(): ConnectionStatus {
    return this.store.get();
  }

  #start(): void {
    const c = this.client;
    if (c.state !== this.get().state) this.set({ ...this.get(), state: c.state });
    this.#offs = [
      c.on('state', (e) =>
        this.set({
          ...this.get(),
          state: e.state,
          code: e.code,
          reason: e.reason,
          ...(e.state === 'connecting' ? {} : { reconnectIn: null, reconnectingSince: null }),
        }),
      ),
      c.on('reconnecting', (e) => this.set({ ...this.get(), code: e.code, reason: e.reason, reconnectIn: e.delay, reconnectingSince: Date.now() })),
    ];
  }

  #stop(): void {
    for (const off of this.#offs.splice(0)) off();
  }

  /** Publish through the client, counting the publish while it waits for a connection. */
  track<R>(publish: Promise<R>): Promise<R> {
    if (this.client.state === 'connected') return publish;
    this.#setQueued(this.#queued + 1);
    const done = () => this.#setQueued(this.#queued - 1);
    publish.then(done, done);
    return publish;
  }

  #setQueued(queued: number): void {
    this.#queued = queued;
    this.set({ ...this.get(), queued });
  }
}
