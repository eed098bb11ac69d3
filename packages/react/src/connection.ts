import type { ClientState, SwitchboardClient } from '@switchboard/client';
import { offAll } from './errors.js';
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
  /** Publishes waiting in the client's offline queue (`client.offlineQueueSize`): made while offline, sent after the reconnect. */
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

/** The connection status of one client, and the count of publishes waiting in its offline queue. */
export class ConnectionStore {
  #offs: Array<() => void> = [];
  readonly store: Store<ConnectionStatus>;

  constructor(readonly client: SwitchboardClient) {
    this.store = new Store<ConnectionStatus>(
      { ...NO_CONNECTION, state: client.state, queued: client.offlineQueueSize },
      { start: () => this.#start(), stop: () => this.#stop() },
    );
  }

  private set(next: ConnectionStatus): void {
    this.store.set(next);
  }

  private get(): ConnectionStatus {
    return this.store.get();
  }

  #start(): void {
    const c = this.client;
    if (c.state !== this.get().state || c.offlineQueueSize !== this.get().queued) this.set({ ...this.get(), state: c.state, queued: c.offlineQueueSize });
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
      c.on('offlineQueue', (e) => this.set({ ...this.get(), queued: e.size })),
    ];
  }

  #stop(): void {
    offAll(this.#offs);
  }
}
