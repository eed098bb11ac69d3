import type { Logger } from 'pino';

/** How long the reaction changes of one comment are gathered into one push. */
export const REACTION_CONFLATION_MS = 50;
/** How long the read receipts of one user in one thread are gathered into one push. */
export const RECEIPT_CONFLATION_MS = 250;

interface Pending {
  send: () => Promise<void>;
  timer: NodeJS.Timeout | null;
  /** A send is reading or publishing; a change meanwhile schedules one more. */
  sending: boolean;
  dirty: boolean;
}

/**
 * Pushes conflated per key (a comment's reactions, a user's receipt in a thread): the
 * changes of one key within `delayMs` become one push, and `send` reads what it pushes from
 * the database when it runs, so the last push of a key is the stored state (latest wins).
 * One timer per key with pending changes, never per connection; one send of a key at a time.
 */
export class ConflatedPushes {
  readonly #pending = new Map<string, Pending>();
  #stopped = false;

  constructor(
    private readonly delayMs: number,
    private readonly logger: Logger,
  ) {}

  /** Something of `key` changed (committed): run `send` (the latest given) soon. */
  changed(key: string, send: () => Promise<void>): void {
    if (this.#stopped) return;
    const p = this.#pending.get(key);
    if (p) {
      p.send = send;
      p.dirty = true;
      if (!p.timer && !p.sending) this.#schedule(key, p);
      return;
    }
    const fresh: Pending = { send, timer: null, sending: false, dirty: true };
    this.#pending.set(key, fresh);
    this.#schedule(key, fresh);
  }

  /** Drop what is pending (the server stops). */
  stop(): void {
    this.#stopped = true;
    for (const p of this.#pending.values()) if (p.timer) clearTimeout(p.timer);
    this.#pending.clear();
  }

  #schedule(key: string, p: Pending): void {
    p.timer = setTimeout(() => void this.#run(key, p), this.delayMs);
  }

  async #run(key: string, p: Pending): Promise<void> {
    p.timer = null;
    p.sending = true;
    p.dirty = false;
    try {
      await p.send();
    } catch (err) {
      this.logger.warn({ err, key }, 'comments push failed (stored; readers get it from the thread)');
    } finally {
      p.sending = false;
      if (!this.#stopped && p.dirty) this.#schedule(key, p);
      else this.#pending.delete(key);
    }
  }
}
