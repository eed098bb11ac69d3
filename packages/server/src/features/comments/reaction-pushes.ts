import type { Logger } from 'pino';
import type { ResolvedChannel } from '../../core/channels.js';
import type { CommentPush } from './pushes.js';
import type { ReactionState } from './store.js';

/** How long reaction changes of one comment are gathered into one push. */
export const REACTION_CONFLATION_MS = 50;

interface Pending {
  live: ResolvedChannel;
  threadId: string;
  timer: NodeJS.Timeout | null;
  /** A flush is reading or publishing; a change meanwhile schedules one more. */
  flushing: boolean;
  dirty: boolean;
}

/**
 * Reaction pushes, conflated per comment: the changes of a hot comment within 50 ms become
 * one push, and what is pushed is read from the database when it is sent, so every watcher
 * ends at the stored counts (and `version` orders the pushes: a client keeps the highest).
 * One timer per comment with pending changes, never per connection.
 */
export class ReactionPushes {
  readonly #pending = new Map<string, Pending>();
  #stopped = false;

  constructor(
    private readonly read: (tenant: string, commentId: string) => Promise<ReactionState | null>,
    private readonly publish: (live: ResolvedChannel, push: CommentPush) => Promise<void>,
    private readonly logger: Logger,
    private readonly delayMs = REACTION_CONFLATION_MS,
  ) {}

  /** A reaction of this comment changed (committed): push its reactions soon. */
  changed(live: ResolvedChannel, threadId: string, commentId: string): void {
    if (this.#stopped) return;
    const key = `${live.key}|${commentId}`;
    const p = this.#pending.get(key);
    if (p) {
      p.dirty = true;
      if (!p.timer && !p.flushing) this.#schedule(key, p, commentId);
      return;
    }
    const fresh: Pending = { live, threadId, timer: null, flushing: false, dirty: true };
    this.#pending.set(key, fresh);
    this.#schedule(key, fresh, commentId);
  }

  /** Drop what is pending (the server stops). */
  stop(): void {
    this.#stopped = true;
    for (const p of this.#pending.values()) if (p.timer) clearTimeout(p.timer);
    this.#pending.clear();
  }

  #schedule(key: string, p: Pending, commentId: string): void {
    p.timer = setTimeout(() => void this.#flush(key, p, commentId), this.delayMs);
  }

  async #flush(key: string, p: Pending, commentId: string): Promise<void> {
    p.timer = null;
    p.flushing = true;
    p.dirty = false;
    try {
      const state = await this.read(p.live.tenant, commentId);
      if (state) await this.publish(p.live, { kind: 'reaction', threadId: p.threadId, commentId, reactions: state.reactions, version: state.version });
    } catch (err) {
      this.logger.warn({ err, comment: commentId }, 'reaction push failed (stored; readers get it from the thread)');
    } finally {
      p.flushing = false;
      if (this.#stopped) this.#pending.delete(key);
      else if (p.dirty) this.#schedule(key, p, commentId);
      else this.#pending.delete(key);
    }
  }
}
