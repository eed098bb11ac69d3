/** Most threads remembered; past it the oldest entries go first. */
const MAX_THREADS = 10_000;

/**
 * The channel of each recently used thread, per tenant. A thread's channel never changes, so
 * an entry is never stale while the thread exists; a thread deleted meanwhile (here or on
 * another node) is still found here, so only the writes that check the thread in their own
 * statement use it — a reply (the thread row's update) and a reaction (the comment row's
 * update, keyed by thread) — and they answer 404 and publish nothing when it is gone. Saves
 * those writes a read of the thread each.
 */
export class ThreadChannels {
  readonly #channels = new Map<string, string>();

  get(tenant: string, threadId: string): string | undefined {
    return this.#channels.get(`${tenant}\u0000${threadId}`);
  }

  set(tenant: string, threadId: string, channel: string): void {
    const key = `${tenant}\u0000${threadId}`;
    if (this.#channels.has(key)) return;
    if (this.#channels.size >= MAX_THREADS) this.#channels.delete(this.#channels.keys().next().value as string);
    this.#channels.set(key, channel);
  }

  /** Forget a thread (deleted, or a write found it gone). */
  forget(tenant: string, threadId: string): void {
    this.#channels.delete(`${tenant}\u0000${threadId}`);
  }
}
