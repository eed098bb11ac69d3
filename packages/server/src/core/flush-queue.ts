/** Connections written per event-loop turn when flushing (see FlushQueue). */
const FLUSH_CHUNK = 256;

/**
 * Connections that queued frames this turn, written at the end of it: FLUSH_CHUNK per
 * event-loop turn. A publication to many local subscribers takes one socket write each, so
 * between chunks the loop reads sockets and engine replies (a publisher waiting on a Redis
 * round trip is not held up by a whole fan-out), and frames that arrive meanwhile join the
 * same write.
 */
export class FlushQueue<C extends { flush(): void }> {
  readonly #dirty: C[] = [];
  /** Index in #dirty of the next connection to flush. */
  #start = 0;
  #scheduled = false;
  readonly #flushBound = (): void => this.#flush();

  push(conn: C): void {
    this.#dirty.push(conn);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushBound);
  }

  #flush(): void {
    this.#scheduled = false;
    const dirty = this.#dirty;
    const end = Math.min(dirty.length, this.#start + FLUSH_CHUNK);
    for (let i = this.#start; i < end; i++) (dirty[i] as C).flush();
    if (end < dirty.length) {
      this.#start = end;
      this.#scheduled = true;
      setImmediate(this.#flushBound);
      return;
    }
    dirty.length = 0;
    this.#start = 0;
  }
}
