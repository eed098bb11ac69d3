import type { ClientState, SwitchboardClient } from '@switchboard/client';
import { offAll } from './errors.js';
import { type HookResult, loaded, Store } from './store.js';

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
  readonly store: Store<HookResult<ConnectionStatus>>;

  constructor(readonly client: SwitchboardClient) {
    this.store = new Store(loaded({ ...NO_CONNECTION, state: client.state, queued: client.offlineQueueSize }), {
      start: () => this.#start(),
      stop: () => offAll(this.#offs),
    });
  }

  #patch(change: Partial<ConnectionStatus>): void {
    this.store.set(loaded({ ...(this.store.get().data as ConnectionStatus), ...change }));
  }

  #start(): void {
    const c = this.client;
    const { state, queued } = this.store.get().data as ConnectionStatus;
    if (c.state !== state || c.offlineQueueSize !== queued) this.#patch({ state: c.state, queued: c.offlineQueueSize });
    this.#offs = [
      c.on('state', (e) =>
        this.#patch({
          state: e.state,
          code: e.code,
          reason: e.reason,
          ...(e.state === 'connecting' ? {} : { reconnectIn: null, reconnectingSince: null }),
        }),
      ),
      c.on('reconnecting', (e) => this.#patch({ code: e.code, reason: e.reason, reconnectIn: e.delay, reconnectingSince: Date.now() })),
      c.on('offlineQueue', (e) => this.#patch({ queued: e.size })),
    ];
  }
}
