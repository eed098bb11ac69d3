import type { Reply } from '@switchboard/protocol';
import { ClientCode } from './codes.js';
import { SwitchboardError } from './errors.js';
import type { Timers } from './timers.js';

/** What to do with the reply of one command. */
export interface CommandCallbacks<R = unknown> {
  onResult(result: R): void;
  onError(error: SwitchboardError): void;
}

interface Entry<M> extends CommandCallbacks {
  timer: unknown;
  meta: M | undefined;
}

/**
 * Commands sent and waiting for their reply, by id. Each has an optional deadline.
 * `meta` lets the owner recognise entries when the connection drops (e.g. publishes).
 */
export class PendingCommands<M = never> {
  readonly #timers: Timers;
  readonly #entries = new Map<number, Entry<M>>();

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  get size(): number {
    return this.#entries.size;
  }

  add(id: number, callbacks: CommandCallbacks, timeoutMs: number, meta?: M): void {
    const timer = timeoutMs > 0 ? this.#timers.setTimeout(() => this.#expire(id), timeoutMs) : undefined;
    this.#entries.set(id, { onResult: callbacks.onResult, onError: callbacks.onError, timer, meta });
  }

  /** Settle the command a reply answers; false for an unknown (late or foreign) id. */
  settle(reply: Reply): boolean {
    const entry = this.#take(reply.id);
    if (entry === undefined) return false;
    if (reply.error !== undefined && reply.error !== null) entry.onError(SwitchboardError.fromReply(reply.error));
    else entry.onResult(reply.result ?? {});
    return true;
  }

  /** Remove and return every entry, oldest first, without settling them. */
  takeAll(): Array<CommandCallbacks & { meta: M | undefined }> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) if (entry.timer !== undefined) this.#timers.clearTimeout(entry.timer);
    return entries;
  }

  #take(id: number): Entry<M> | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    this.#entries.delete(id);
    if (entry.timer !== undefined) this.#timers.clearTimeout(entry.timer);
    return entry;
  }

  #expire(id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    entry.onError(SwitchboardError.of(ClientCode.Timeout));
  }
}
