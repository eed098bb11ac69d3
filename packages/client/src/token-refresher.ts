import type { RefreshResult } from '@switchboard/protocol';
import { ClientCode, reasonOf, type StateReason } from './codes.js';
import type { Credentials } from './credentials.js';
import { SwitchboardError, toError } from './errors.js';
import type { ClientErrorEvent } from './events.js';
import type { CommandCallbacks } from './pending-commands.js';
import { TimerSlot, type Timers } from './timers.js';

/** What the refresher needs of its client. */
export interface RefreshHost {
  /** The connection generation: a refresh started on an older one is dropped. */
  generation(): number;
  /** Send `refresh` with this token on the current connection. */
  request(token: string, callbacks: CommandCallbacks<RefreshResult>): void;
  /** Emit an error event; false when a listener changed the connection meanwhile. */
  emitError(event: ClientErrorEvent, gen: number): boolean;
  stop(info: StateReason): void;
  /** The server accepted a new token (the credentials hold its expiry). */
  refreshed(): void;
}

/**
 * Refreshes the token of a connected client before it expires: `getToken`, then the
 * `refresh` command; temporary failures are retried while the token is still valid,
 * otherwise the server's close 3003 ends the connection.
 */
export class TokenRefresher {
  readonly #timer: TimerSlot;

  constructor(
    timers: Timers,
    private readonly credentials: Credentials,
    private readonly host: RefreshHost,
  ) {
    this.#timer = new TimerSlot(timers);
  }

  /** Plan the next refresh for the accepted token (none when it does not expire). */
  schedule(): void {
    this.#timer.clear();
    const delay = this.credentials.refreshIn();
    const gen = this.host.generation();
    if (delay !== undefined) this.#timer.set(delay, () => this.#refresh(gen));
  }

  clear(): void {
    this.#timer.clear();
  }

  #refresh(gen: number): void {
    const { host } = this;
    this.credentials.fetch().then(
      (token) => {
        if (gen !== host.generation()) return;
        host.request(token, {
          onResult: (result) => {
            if (gen !== host.generation()) return;
            this.credentials.accepted(result.expires, token);
            host.refreshed();
            this.schedule();
          },
          onError: (error) => {
            if (gen === host.generation()) this.#onError(error, gen);
          },
        });
      },
      (err: unknown) => {
        if (gen !== host.generation()) return;
        if (err instanceof SwitchboardError && !err.temporary) {
          if (host.emitError({ error: err, during: 'token' }, gen)) host.stop(reasonOf(ClientCode.Unauthorized));
          return;
        }
        this.#onError(toError(err, ClientCode.TokenUnavailable), gen);
      },
    );
  }

  /** Retry temporary failures while the token is still valid; otherwise wait for close 3003. */
  #onError(error: SwitchboardError, gen: number): void {
    if (error.code === ClientCode.ConnectionClosed.code) return;
    if (!this.host.emitError({ error, during: 'refresh' }, gen) || !error.temporary) return;
    const retry = this.credentials.retryRefreshIn();
    if (retry !== undefined) this.#timer.set(retry, () => this.#refresh(gen));
  }
}
