import { DisconnectCode, ErrorCode } from '@switchboard/protocol';
import { refreshDelay } from './token-refresh.js';

/** What to do after the connection is lost. */
export type AfterLoss = 'reconnect' | 'stop';

/** The options the token rules read. */
export interface CredentialOptions {
  readonly token: string | undefined;
  readonly getToken: (() => Promise<string>) | undefined;
  readonly now: () => number;
}

/**
 * The connection's token: the one given or fetched with `getToken`, when it expires, and
 * whether one the server refused may be fetched again. No timers and no I/O besides
 * `getToken`, so the rules are the same at connect, refresh and close.
 */
export class Credentials {
  readonly #options: CredentialOptions;
  #token: string | undefined;
  /** The token came from getToken for this attempt and has not been accepted yet. */
  #fresh = false;
  #everAccepted = false;
  #expires: number | undefined;

  constructor(options: CredentialOptions) {
    this.#options = options;
    this.#token = options.token;
  }

  /** The token to send with `connect`, if any. */
  get token(): string | undefined {
    return this.#token;
  }

  /** When the accepted token expires (Unix ms), if it does. */
  get expires(): number | undefined {
    return this.#expires;
  }

  /** The next attempt must call getToken first: no token yet, or the one held has expired. */
  needsFetch(): boolean {
    if (this.#options.getToken === undefined) return false;
    if (this.#token === undefined) return true;
    return this.#expires !== undefined && this.#options.now() >= this.#expires;
  }

  /** Call getToken; resolves with a non-empty token, rejects with what getToken threw. */
  fetch(): Promise<string> {
    try {
      return (this.#options.getToken as () => Promise<string>)().then((token) => {
        if (typeof token !== 'string' || token.length === 0) throw new Error('getToken returned no token');
        return token;
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Connect with a token just fetched; its expiry is known once the server accepts it. */
  useFetched(token: string): void {
    this.#token = token;
    this.#fresh = true;
    this.#expires = undefined;
  }

  /** The server accepted the token (at connect or refresh); `expires` as it answered. */
  accepted(expires: unknown, token: string | undefined = this.#token): void {
    this.#token = token;
    this.#fresh = false;
    this.#everAccepted = true;
    this.#expires = typeof expires === 'number' ? expires : undefined;
  }

  /** Milliseconds until the token should be refreshed; undefined when it never needs to be. */
  refreshIn(): number | undefined {
    if (this.#expires === undefined || this.#options.getToken === undefined) return undefined;
    return refreshDelay(this.#expires, this.#options.now());
  }

  /** When to try a failed refresh again while the token is still valid, else undefined. */
  retryRefreshIn(): number | undefined {
    if (this.#expires === undefined) return undefined;
    const remaining = this.#expires - this.#options.now();
    return remaining > 2_000 ? Math.max(1_000, remaining / 2) : undefined;
  }

  /**
   * What a refusal of the token means (a connect reply error or a close code): reconnect
   * with a new token when getToken can give one, else stop. Undefined for other codes.
   */
  afterRefusal(code: number): AfterLoss | undefined {
    if (code === ErrorCode.TokenExpired.code || code === DisconnectCode.Expired.code) return this.#afterExpiry();
    if (code === ErrorCode.Unauthorized.code || code === DisconnectCode.InvalidToken.code) return this.#afterInvalid();
    return undefined;
  }

  #afterExpiry(): AfterLoss {
    if (this.#options.getToken === undefined) return 'stop';
    this.#token = undefined;
    return 'reconnect';
  }

  /** A token that worked before may be refetched once; a freshly fetched one that fails is final. */
  #afterInvalid(): AfterLoss {
    if (this.#options.getToken === undefined) return 'stop';
    const retry = this.#everAccepted && !this.#fresh;
    this.#token = undefined;
    return retry ? 'reconnect' : 'stop';
  }
}
