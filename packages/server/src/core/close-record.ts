/** RFC 6455 §7.1.5: no close frame (the connection was lost). */
export const ABNORMAL_CLOSURE = 1006;
/** RFC 6455 §7.1.5: a close frame without a code. */
const NO_STATUS = 1005;

/**
 * How one connection ended and how long it lived: the first close code known (the
 * server's, the peer's, 1006 when lost) and its age on the monotonic clock, so a clock
 * step of the wall clock never shows in a duration.
 */
export class CloseRecord {
  readonly #acceptedMono = performance.now();
  #code: number | null = null;
  #reason = '';
  #lost = false;

  /** The connection ended without a close handshake (network cut, reset, killed peer): 1006. */
  lose(): void {
    this.#lost = true;
    this.record(ABNORMAL_CLOSURE, '');
  }

  /** Whether it ended without a close handshake (before any close code was known). */
  get lost(): boolean {
    return this.#lost;
  }

  /** Keep the first code told; later ones (the transport's echo of our own close) change nothing. */
  record(code: number, reason: string): void {
    if (this.#code !== null) return;
    this.#code = code;
    this.#reason = reason;
  }

  /** The close code and reason (1005 when the close frame had no code). */
  get info(): { code: number; reason: string } {
    return { code: this.#code ?? NO_STATUS, reason: this.#reason };
  }

  /** Milliseconds since the connection was accepted. */
  get age(): number {
    return Math.max(0, Math.round(performance.now() - this.#acceptedMono));
  }
}
