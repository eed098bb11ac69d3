import { ErrorCode } from '@switchboard/protocol';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { storageCall } from '../../storage/failures.js';
import { checkComment, checkMetadata, mayComment, mayRead } from './access.js';
import { type CommentSettings, type CommentsConfig, commentSettings } from './config.js';
import { ConflatedPushes, REACTION_CONFLATION_MS, RECEIPT_CONFLATION_MS } from './conflated-pushes.js';
import { type CommentMetrics, commentMetrics } from './metrics.js';
import { COMMENTS_NAMESPACE, type Comment, type CommentDraft, type ReactionCount, type Thread, type ThreadDraft, type ThreadInfo } from './model.js';
import type { CommentPush } from './pushes.js';
import type { Receipt } from './receipt-store.js';
import type { CommentStore, ThreadPage, ThreadQuery } from './store.js';
import { ThreadChannels } from './thread-channels.js';
import { type Mentions, notifyMentions, notifyReply } from './thread-notifications.js';

/**
 * Who acts: a connection (its identity: permissions are checked on the thread's channel) or
 * the backend over HTTP (`identity` null: any thread of the tenant; `userId` the user it acts
 * for, null when it acts as itself, which may edit and delete any comment).
 */
export interface Actor {
  tenant: string;
  userId: string | null;
  identity: Identity | null;
}

export interface Created<T> {
  value: T;
  deduplicated?: true;
}

/**
 * Comment threads: every write is committed first, then published to `comments:{channel}`
 * (who may subscribe to the channel may subscribe there) and mentioned users are notified.
 * Shared by the client commands and the HTTP routes.
 */
export class CommentThreads {
  readonly #reactionPushes: ConflatedPushes;
  readonly #receiptPushes: ConflatedPushes;
  /** Each namespace's settings (namespace options never change while the node runs); null: comments off. */
  readonly #settings = new Map<string, CommentSettings | null>();
  readonly #metrics: CommentMetrics;
  readonly #threadChannels = new ThreadChannels();
  /** The respondBy deadlines (set once started): `deadlines.check()` reports the missed ones now. */
  deadlines: { check(): Promise<number> } | null = null;

  constructor(
    readonly store: CommentStore,
    readonly node: NodeContext,
    readonly config: CommentsConfig,
    private readonly mentions: Mentions | null,
  ) {
    this.#reactionPushes = new ConflatedPushes(REACTION_CONFLATION_MS, node.logger);
    this.#receiptPushes = new ConflatedPushes(RECEIPT_CONFLATION_MS, node.logger);
    this.#metrics = commentMetrics(node.metricsRegistry);
  }

  /** Stop pushing (the server stops). */
  stop(): void {
    this.#reactionPushes.stop();
    this.#receiptPushes.stop();
  }

  /** A channel that may have threads, for this tenant (422 / 108 when comments are off in its namespace). */
  resolveChannel(tenant: string, channel: string): ResolvedChannel {
    const ch = this.node.resolve(tenant, channel);
    this.settings(ch);
    return ch;
  }

  /** The comment settings of a channel's namespace: its `comments` option over `comments.*` (108 when off). */
  settings(ch: ResolvedChannel): CommentSettings {
    let settings = this.#settings.get(ch.namespace);
    if (settings === undefined) {
      settings = ch.namespace === COMMENTS_NAMESPACE ? null : commentSettings(this.config, ch.options['comments']);
      this.#settings.set(ch.namespace, settings);
    }
    if (settings === null) throw new ReplyError(ErrorCode.NotAvailable, `comments are off in the "${ch.namespace}" namespace`);
    return settings;
  }

  /** The channel for a reader or writer; a connection that may not read it is told 103. */
  #channelFor(actor: Actor, channel: string, write: boolean): ResolvedChannel {
    const ch = this.resolveChannel(actor.tenant, channel);
    if (actor.identity) {
      if (!mayRead(actor.identity, ch)) throw new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${ch.channel}`);
      if (write && !mayComment(actor.identity, ch)) throw new ReplyError(ErrorCode.PermissionDenied, `needs the comment permission on ${ch.channel}`);
    }
    return ch;
  }

  /** A thread the actor may see (a thread on a channel a connection may not read is NotFound, as if it did not exist). */
  async #threadFor(actor: Actor, threadId: string, write: boolean): Promise<{ info: ThreadInfo; ch: ResolvedChannel }> {
    const info = await this.#store(this.store.threadInfo(actor.tenant, threadId));
    this.#threadChannels.set(actor.tenant, threadId, info.channel);
    return { info, ch: this.#mayUse(actor, info.channel, write) };
  }

  #mayUse(actor: Actor, channel: string, write: boolean): ResolvedChannel {
    const ch = this.resolveChannel(actor.tenant, channel);
    if (actor.identity) {
      if (!mayRead(actor.identity, ch)) throw new ReplyError(ErrorCode.NotFound, 'no such thread');
      if (write && !mayComment(actor.identity, ch)) throw new ReplyError(ErrorCode.PermissionDenied, `needs the comment permission on ${ch.channel}`);
    }
    return ch;
  }

  /**
   * The channel of a thread for a write that checks the thread itself (see ThreadChannels):
   * from memory when the thread was seen before, else read.
   */
  async #channelOfThread(actor: Actor, threadId: string): Promise<ResolvedChannel> {
    const known = this.#threadChannels.get(actor.tenant, threadId);
    return known === undefined ? (await this.#threadFor(actor, threadId, true)).ch : this.#mayUse(actor, known, true);
  }

  /** A write of a remembered thread; a 404 (the thread was deleted, maybe on another node) forgets it. */
  async #checked<T>(tenant: string, threadId: string, op: Promise<T>): Promise<T> {
    try {
      return await this.#store(op);
    } catch (err) {
      if (err instanceof ReplyError && err.code === ErrorCode.NotFound.code) this.#threadChannels.forget(tenant, threadId);
      throw err;
    }
  }

  #author(actor: Actor): string {
    if (actor.userId === null) throw new ReplyError(ErrorCode.BadRequest, 'userId: name the user who writes');
    return actor.userId;
  }

  async list(actor: Actor, channel: string, query: Omit<ThreadQuery, 'limit'> & { limit?: number | undefined }): Promise<ThreadPage> {
    const ch = this.#channelFor(actor, channel, false);
    const max = this.config.pageSize;
    return this.#store(this.store.list(actor.tenant, ch.channel, { ...query, limit: Math.min(query.limit ?? Math.min(20, max), max) }));
  }

  async get(actor: Actor, threadId: string): Promise<Thread> {
    await this.#threadFor(actor, threadId, false);
    return this.#store(this.store.thread(actor.tenant, threadId));
  }

  async createThread(actor: Actor, channel: string, draft: ThreadDraft, idempotencyKey?: string): Promise<Created<Thread>> {
    const ch = this.#channelFor(actor, channel, true);
    const userId = this.#author(actor);
    const settings = this.settings(ch);
    checkComment(settings, draft);
    checkMetadata(settings, draft.metadata);
    const out = await this.#store(this.store.createThread({ tenant: actor.tenant, channel: ch.channel, userId, draft, idempotencyKey }));
    if (out.deduplicated) return { value: out.value, deduplicated: true };
    this.#metrics.write('thread');
    const first = out.value.comments[0] as Comment;
    await this.#publish(ch, { kind: 'thread', action: 'created', thread: out.value });
    await this.#mention(actor.tenant, out.value, first, first.mentions);
    return { value: out.value };
  }

  async reply(actor: Actor, threadId: string, draft: CommentDraft, idempotencyKey?: string): Promise<Created<Comment>> {
    const ch = await this.#channelOfThread(actor, threadId);
    const userId = this.#author(actor);
    const settings = this.settings(ch);
    checkComment(settings, draft);
    const out = await this.#checked(
      actor.tenant,
      threadId,
      this.store.addComment({ tenant: actor.tenant, threadId, userId, draft, maxComments: settings.maxCommentsPerThread, idempotencyKey }),
    );
    if (out.deduplicated) return { value: out.value, deduplicated: true };
    this.#metrics.write('reply');
    await this.#publish(ch, { kind: 'comment', action: 'created', threadId, comment: out.value });
    await this.#mention(actor.tenant, out.thread, out.value, out.value.mentions);
    if (this.mentions) {
      const followers = await this.#store(out.followers()).catch(() => []);
      await notifyReply(this.mentions, actor.tenant, out.thread, out.value, followers, this.node.logger);
    }
    return { value: out.value };
  }

  async edit(actor: Actor, threadId: string, commentId: string, draft: CommentDraft): Promise<Comment> {
    const { ch, info } = await this.#threadFor(actor, threadId, true);
    checkComment(this.settings(ch), draft);
    const out = await this.#store(this.store.changeComment(actor.tenant, threadId, commentId, actor.userId, { edit: draft }));
    this.#metrics.write('edit');
    await this.#publish(ch, { kind: 'comment', action: 'edited', threadId, comment: out.comment });
    await this.#mention(actor.tenant, info, out.comment, out.added);
    return out.comment;
  }

  async deleteComment(actor: Actor, threadId: string, commentId: string): Promise<Comment> {
    const { ch } = await this.#threadFor(actor, threadId, true);
    const out = await this.#store(this.store.changeComment(actor.tenant, threadId, commentId, actor.userId, { delete: true }));
    if (out.changed) {
      this.#metrics.write('delete');
      await this.#publish(ch, { kind: 'comment', action: 'deleted', threadId, comment: out.comment });
    }
    return out.comment;
  }

  /** Resolve, reopen, or (backend) replace the metadata. */
  async update(actor: Actor, threadId: string, patch: { metadata?: Record<string, unknown> | undefined; resolved?: boolean | undefined }): Promise<ThreadInfo> {
    const { ch } = await this.#threadFor(actor, threadId, true);
    checkMetadata(this.settings(ch), patch.metadata);
    const out = await this.#store(this.store.updateThread(actor.tenant, threadId, actor.userId, patch));
    if (!out.changed) return out.thread;
    const action = patch.resolved === undefined || patch.metadata !== undefined ? 'updated' : patch.resolved ? 'resolved' : 'reopened';
    this.#metrics.write(action === 'updated' ? 'metadata' : action === 'resolved' ? 'resolve' : 'reopen');
    await this.#publish(ch, { kind: 'thread', action, thread: out.thread });
    return out.thread;
  }

  async deleteThread(actor: Actor, threadId: string): Promise<ThreadInfo> {
    const { ch } = await this.#threadFor(actor, threadId, true);
    const thread = await this.#store(this.store.deleteThread(actor.tenant, threadId));
    this.#threadChannels.forget(actor.tenant, threadId);
    this.#metrics.write('thread_delete');
    await this.#publish(ch, { kind: 'thread', action: 'deleted', thread });
    return thread;
  }

  /**
   * Give (`on`) or take back a reaction as the actor's user: idempotent both ways, answering
   * the comment's reactions as stored after the change and the reactions the user then holds
   * (`mine`). Watchers get them conflated per comment. Answers and pushes list at most
   * `reactionUsers` users per reaction (counts stay exact): a hot comment's pushes stay small.
   */
  async setReaction(
    actor: Actor,
    threadId: string,
    commentId: string,
    reaction: string,
    on: boolean,
  ): Promise<{ reactions: ReactionCount[]; version: number; mine: string[] }> {
    const ch = await this.#channelOfThread(actor, threadId);
    const userId = this.#author(actor);
    const { reactions, reactionRate, reactionUsers } = this.settings(ch);
    if (!reactions.includes(reaction)) throw new ReplyError(ErrorCode.BadRequest, `reaction: not one of ${reactions.join(', ')}`);
    if (reactionRate > 0 && !(await this.#takeReaction(actor.tenant, userId, reactionRate)))
      throw new ReplyError(ErrorCode.TooManyRequests, 'reaction changes per user (comments.reactionRate)');
    const state = await this.#checked(actor.tenant, threadId, this.store.reactions.set(actor.tenant, threadId, commentId, userId, reaction, on, reactionUsers));
    this.#metrics.reaction(state.changed);
    if (state.changed) {
      const live = this.#live(ch);
      if (live) {
        this.#reactionPushes.changed(`${live.key}|${commentId}`, async () => {
          const now = await this.store.reactions.state(actor.tenant, commentId, reactionUsers);
          if (now) await this.#send(live, { kind: 'reaction', threadId, commentId, reactions: now.reactions, version: now.version });
        });
      }
    }
    return { reactions: state.reactions, version: state.version, mine: state.mine };
  }

  /** A token of the user's reaction rate, shared by every node (a burst of one second's worth). */
  async #takeReaction(tenant: string, user: string, ratePerSecond: number): Promise<boolean> {
    try {
      return await this.node.rates.take(`reactions:${tenant}|${user}`, ratePerSecond, ratePerSecond);
    } catch (err) {
      throw err instanceof ReplyError ? err : new ReplyError(ErrorCode.Unavailable, 'the rate store is unreachable');
    }
  }

  /**
   * Mark a thread read up to a comment of it, as the actor's user. A receipt only moves
   * forward; watchers get the user's latest receipt, at most one push per user and thread per
   * 250 ms. Reading is enough (a reader marks what it read).
   */
  async markRead(actor: Actor, threadId: string, commentId: string): Promise<Receipt> {
    const { ch } = await this.#threadFor(actor, threadId, false);
    const userId = this.#author(actor);
    const out = await this.#store(this.store.receipts.markRead(actor.tenant, threadId, commentId, userId));
    this.#metrics.receipt(out.changed);
    const live = out.changed ? this.#live(ch) : null;
    if (live) {
      this.#receiptPushes.changed(`${live.key}|${threadId}|${userId}`, async () => {
        const [now] = await this.store.receipts.list(actor.tenant, threadId, userId);
        if (now) await this.#send(live, { kind: 'receipt', threadId, ...now });
      });
    }
    return out.receipt;
  }

  async receipts(actor: Actor, threadId: string): Promise<Receipt[]> {
    await this.#threadFor(actor, threadId, false);
    return this.#store(this.store.receipts.list(actor.tenant, threadId));
  }

  /**
   * Subscribe the actor's user to the thread's reply notifications, or unsubscribe. Authors,
   * repliers and mentioned users are subscribed by their comment unless they unsubscribed.
   */
  async follow(actor: Actor, threadId: string, following: boolean): Promise<void> {
    await this.#threadFor(actor, threadId, false);
    await this.#store(this.store.followers.set(actor.tenant, threadId, this.#author(actor), following));
  }

  /** "Someone is typing" in a thread: published, never stored. */
  async typing(actor: Actor, threadId: string): Promise<void> {
    const { ch } = await this.#threadFor(actor, threadId, true);
    await this.#publish(ch, { kind: 'typing', threadId, userId: this.#author(actor) });
  }

  /** A store call; an unreachable or busy store answers Unavailable (retry), not Internal. */
  #store<T>(op: Promise<T>): Promise<T> {
    return storageCall(op, (err) => this.node.logger.warn({ err }, 'comments storage unavailable'));
  }

  async #mention(tenant: string, thread: ThreadInfo, comment: Comment, users: readonly string[]): Promise<void> {
    if (!this.mentions) return;
    await notifyMentions(this.mentions, tenant, thread, comment, users, this.node.logger);
  }

  /** The live channel of a channel's threads; null without a `comments` namespace or when the name would be too long (stored, not pushed). */
  #live(ch: ResolvedChannel): ResolvedChannel | null {
    try {
      return this.node.resolve(ch.tenant, `${COMMENTS_NAMESPACE}:${ch.channel}`);
    } catch {
      return null;
    }
  }

  /** Publish after the commit; a failed push loses nothing (readers list the threads again). */
  async #publish(ch: ResolvedChannel, push: CommentPush): Promise<void> {
    const live = this.#live(ch);
    if (live) await this.#send(live, push);
  }

  async #send(live: ResolvedChannel, push: CommentPush): Promise<void> {
    try {
      await this.node.publish(live, JSON.stringify(push));
    } catch (err) {
      this.node.logger.warn({ err, channel: live.channel }, 'comment push failed (stored; readers get it from the list)');
    }
  }
}
