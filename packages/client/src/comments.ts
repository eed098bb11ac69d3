import type { Comment, ReactionCount, ReadReceipt, Thread, ThreadInfo } from '@switchboard/protocol';
import { Emitter } from './emitter.js';
import type { FeatureHost } from './feature-module.js';
import { OfflineWrites } from './offline-writes.js';

export type { Comment, ReactionCount, ReadReceipt, Thread, ThreadInfo } from '@switchboard/protocol';

/**
 * Comment threads about a channel (`project:42`): list, write, resolve, and live changes on
 * the channel `comments:{channel}`. Server side: docs/comments.md.
 */

/** What the threads of a channel need from the client. */
export type CommentsHost = Pick<FeatureHost, 'call' | 'subscribe' | 'session' | 'createId' | 'on'>;

/**
 * The comment threads of a channel such as `project:42` (one per client and channel).
 *
 * @example
 * import { comments } from '@switchboard/client/comments';
 * const threads = comments(client, 'project:42');
 * threads.on('comment', (e) => render(e.threadId, e.comment));
 * const { thread } = await threads.createThread({ body: 'Is this the final title?', metadata: { field: 'title' } });
 */
export function comments(client: FeatureHost, channel: string): CommentThreads {
  return client.use({ key: `comments:${channel}`, create: (host) => new CommentThreads(host, channel) });
}

export interface ThreadQuery {
  /** Only resolved (true) or open (false) threads. */
  resolved?: boolean;
  /** Only threads with (true) or without (false) comments you have not read; every thread carries its `unread` count. */
  unread?: boolean;
  /** Only threads whose metadata has each of these top-level keys with an equal value. */
  metadata?: Record<string, unknown>;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Page size (default 20, at most the server's `comments.pageSize`). */
  limit?: number;
}

export interface ThreadPage {
  threads: Thread[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface CommentDraft {
  /** At most `comments.maxBodyChars` characters (default 10,000). */
  body: string;
  /** User ids; each newly mentioned user gets one `mention` notification. */
  mentions?: string[];
  /** Makes a retry safe: the same key (per user) writes once and answers the first write. One is made for you when left out. */
  idempotencyKey?: string;
}

export interface ThreadDraft extends CommentDraft {
  /** At most 16 keys and 4 KiB of JSON by default; lists can filter by its top-level values. */
  metadata?: Record<string, unknown>;
  /** By when someone other than the author should reply: Unix ms or an ISO 8601 date. */
  respondBy?: number | string;
}

/** What `createThread` answers; `deduplicated` when the idempotency key was seen (nothing new was written). */
export interface ThreadCreated {
  thread: Thread;
  deduplicated?: true;
}

/** What `reply` answers. */
export interface CommentCreated {
  comment: Comment;
  deduplicated?: true;
}

/** A change to a thread: `created` carries the thread with its first comment, the others the thread without comments. */
export type ThreadEvent = { action: 'created'; thread: Thread } | { action: 'updated' | 'resolved' | 'reopened' | 'deleted'; thread: ThreadInfo };

/** A new, edited or deleted comment (a deleted one is a tombstone: empty body, `deletedAt` set). */
export interface CommentEvent {
  action: 'created' | 'edited' | 'deleted';
  threadId: string;
  comment: Comment;
}

/**
 * A comment's reactions as stored; `version` orders them (the module passes on only newer ones).
 * Counts are exact; each `userIds` lists the first `comments.reactionUsers` users (20 by
 * default) only, so it is partial when `count > userIds.length`.
 */
export interface ReactionEvent {
  threadId: string;
  commentId: string;
  reactions: ReactionCount[];
  version: number;
}

/**
 * What `setReaction` answers: the comment's reactions as stored after the request (exact
 * counts, `userIds` capped like in `reaction` events) and the reactions you hold on it.
 */
export interface ReactionState {
  reactions: ReactionCount[];
  version: number;
  /** The reactions the connected user holds on the comment after the request, in the order given. */
  mine: string[];
}

/** What the module learned from its own answers: per comment, the user's reactions at a version. */
type Mine = Map<string, { version: number; mine: string[] }>;

/** A user's read receipt in a thread moved forward (the latest of each user, throttled). */
export interface ReceiptEvent extends ReadReceipt {
  threadId: string;
}

/** Someone is typing in a thread. */
export interface TypingEvent {
  threadId: string;
  userId: string;
}

export interface CommentEvents {
  thread: ThreadEvent;
  comment: CommentEvent;
  reaction: ReactionEvent;
  receipt: ReceiptEvent;
  typing: TypingEvent;
}

class CommentEmitter extends Emitter<CommentEvents> {
  fire<K extends keyof CommentEvents>(event: K, payload: CommentEvents[K]): void {
    this.emit(event, payload);
  }
}

type Push =
  | ({ kind: 'thread' } & ThreadEvent)
  | ({ kind: 'comment' } & CommentEvent)
  | ({ kind: 'reaction' } & ReactionEvent)
  | ({ kind: 'receipt' } & ReceiptEvent)
  | ({ kind: 'typing' } & TypingEvent);

const KINDS = new Set(['thread', 'comment', 'reaction', 'receipt', 'typing']);

function isPush(data: unknown): data is Push {
  return typeof data === 'object' && data !== null && KINDS.has((data as { kind?: unknown }).kind as string);
}

/**
 * The threads of one channel. Reading needs the subscribe permission on the channel itself;
 * writing also needs the `comment` capability on it.
 *
 * @example
 * const threads = comments(client, 'project:42');
 * const { threads: open } = await threads.list({ resolved: false });
 * await threads.thread(open[0].id).reply({ body: 'Done, see v2', mentions: ['ann'] });
 */
export class CommentThreads {
  readonly #host: CommentsHost;
  readonly #writes: OfflineWrites;
  readonly #events = new CommentEmitter();
  readonly #typing = new Set<string>();
  /** The highest reaction version seen per comment: older pushes are not passed on. */
  readonly #versions = new Map<string, number>();
  /** The connected user's reactions per comment, from the latest answer to a reaction change. */
  readonly #mine: Mine = new Map();
  #listening = false;

  constructor(
    host: CommentsHost,
    readonly channel: string,
  ) {
    this.#host = host;
    this.#writes = new OfflineWrites(host);
  }

  /**
   * A page of the channel's threads, newest first, each with its comments.
   *
   * @example
   * const page = await threads.list({ resolved: false, metadata: { field: 'title' } });
   * const older = page.nextCursor ? await threads.list({ cursor: page.nextCursor }) : null;
   */
  list(query: ThreadQuery = {}): Promise<ThreadPage> {
    return this.#host.call<ThreadPage>('comments.list', { ...query, channel: this.channel });
  }

  /**
   * One thread with its comments, oldest first (tombstones included).
   *
   * @example
   * const t = await threads.get(threadId);
   */
  get(threadId: string): Promise<Thread> {
    return this.#host.call<Thread>('comments.get', { threadId });
  }

  /**
   * Start a thread with its first comment, as the connected user.
   *
   * @example
   * const { thread } = await threads.createThread({ body: 'Typo here', mentions: ['ann'], metadata: { field: 'title' } });
   */
  createThread(draft: ThreadDraft): Promise<ThreadCreated> {
    return this.#writes.call<ThreadCreated>('comments.create_thread', { idempotencyKey: this.#host.createId(), ...draft, channel: this.channel });
  }

  /**
   * The operations on one thread of this channel.
   *
   * @example
   * const t = threads.thread(threadId);
   * await t.reply({ body: 'Fixed' });
   * await t.resolve();
   */
  thread(threadId: string): ThreadHandle {
    return new ThreadHandle(this.#host, this.#writes, threadId, this.#typing, this.#mine);
  }

  /**
   * Changes to the channel's threads from now on (thread, comment, typing). The first
   * listener subscribes to `comments:{channel}`; after a reconnect, `list()` again to fill
   * the gap (the live channel keeps no history).
   *
   * @example
   * const off = threads.on('thread', (e) => (e.action === 'resolved' ? collapse(e.thread.id) : null));
   * off();
   */
  on<K extends keyof CommentEvents>(event: K, listener: (payload: CommentEvents[K]) => void): () => void {
    if (!this.#listening) {
      this.#listening = true;
      this.#host.subscribe(`comments:${this.channel}`).on('publication', (p) => this.#route(p.data));
    }
    return this.#events.on(event, listener);
  }

  #route(data: unknown): void {
    if (!isPush(data)) return;
    const { kind, ...event } = data;
    if (kind === 'thread') this.#events.fire('thread', event as ThreadEvent);
    else if (kind === 'comment') this.#events.fire('comment', event as CommentEvent);
    else if (kind === 'reaction') this.#reaction(event as ReactionEvent);
    else if (kind === 'receipt') this.#events.fire('receipt', event as ReceiptEvent);
    else this.#events.fire('typing', event as TypingEvent);
  }

  #reaction(event: ReactionEvent): void {
    if ((this.#versions.get(event.commentId) ?? -1) >= event.version) return;
    this.#versions.set(event.commentId, event.version);
    this.#events.fire('reaction', event);
  }
}

/**
 * The operations on one thread. Writes made while not connected (or cut off by a lost
 * connection) wait and are sent in order once connected, like publishes; creates carry an
 * idempotency key and every other write sets a state, so a resent write applies once.
 */
export class ThreadHandle {
  readonly #host: CommentsHost;
  readonly #writes: OfflineWrites;
  readonly #typing: Set<string>;
  readonly #mine: Mine;

  constructor(
    host: CommentsHost,
    writes: OfflineWrites,
    readonly id: string,
    typing: Set<string>,
    mine: Mine = new Map(),
  ) {
    this.#host = host;
    this.#writes = writes;
    this.#typing = typing;
    this.#mine = mine;
  }

  /**
   * Add a comment; it gets the thread's next `seq`.
   *
   * @example
   * const { comment } = await thread.reply({ body: 'Agreed', idempotencyKey: draftId });
   */
  reply(draft: CommentDraft): Promise<CommentCreated> {
    return this.#writes.call<CommentCreated>('comments.reply', { idempotencyKey: this.#host.createId(), ...draft, threadId: this.id });
  }

  /**
   * Change one of your comments (body and mentions); a deleted one cannot be edited (132).
   *
   * @example
   * await thread.edit(commentId, { body: 'Agreed, with one change' });
   */
  async edit(commentId: string, draft: Omit<CommentDraft, 'idempotencyKey'>): Promise<Comment> {
    return (await this.#writes.call<{ comment: Comment }>('comments.edit', { ...draft, threadId: this.id, commentId })).comment;
  }

  /**
   * Delete one of your comments: it stays in the thread as a tombstone.
   *
   * @example
   * await thread.delete(commentId);
   */
  async delete(commentId: string): Promise<Comment> {
    return (await this.#writes.call<{ comment: Comment }>('comments.delete', { threadId: this.id, commentId })).comment;
  }

  /**
   * Mark the thread resolved.
   *
   * @example
   * await thread.resolve();
   */
  async resolve(): Promise<ThreadInfo> {
    return (await this.#writes.call<{ thread: ThreadInfo }>('comments.resolve', { threadId: this.id })).thread;
  }

  /**
   * Open a resolved thread again.
   *
   * @example
   * await thread.reopen();
   */
  async reopen(): Promise<ThreadInfo> {
    return (await this.#writes.call<{ thread: ThreadInfo }>('comments.reopen', { threadId: this.id })).thread;
  }

  /**
   * Get `reply` notifications of this thread again (writing in it, or being mentioned,
   * subscribes you unless you unsubscribed).
   *
   * @example
   * await thread.subscribe();
   */
  async subscribe(): Promise<void> {
    await this.#writes.call('comments.subscribe_thread', { threadId: this.id });
  }

  /**
   * Stop `reply` notifications of this thread; later replies of yours do not subscribe you again.
   *
   * @example
   * await thread.unsubscribe();
   */
  async unsubscribe(): Promise<void> {
    await this.#writes.call('comments.unsubscribe_thread', { threadId: this.id });
  }

  /**
   * Mark the thread read up to a comment. A receipt never moves back: marking an earlier
   * comment than the one already marked answers the receipt unchanged.
   *
   * @example
   * await thread.markRead(lastVisible.id);
   */
  async markRead(commentId: string): Promise<ReadReceipt> {
    return (await this.#writes.call<{ receipt: ReadReceipt }>('comments.mark_read', { threadId: this.id, commentId })).receipt;
  }

  /**
   * How far each user has read the thread.
   *
   * @example
   * const { receipts } = await thread.receipts();
   */
  receipts(): Promise<{ receipts: ReadReceipt[] }> {
    return this.#host.call<{ receipts: ReadReceipt[] }>('comments.receipts', { threadId: this.id });
  }

  /**
   * Give (`on: true`) or take back a reaction; idempotent both ways (setting what is already
   * set changes nothing), so a retry is harmless. Resolves with the comment's reactions as
   * stored (exact counts; at most `comments.reactionUsers` users listed per reaction) and
   * `mine`, the reactions you hold on the comment after it.
   *
   * @example
   * const { reactions, mine } = await thread.setReaction(commentId, 'like', true);
   */
  async setReaction(commentId: string, reaction: string, on: boolean): Promise<ReactionState> {
    const state = await this.#writes.call<ReactionState>('comments.set_reaction', { threadId: this.id, commentId, reaction, on });
    const known = this.#mine.get(commentId);
    if (Array.isArray(state.mine) && (!known || known.version <= state.version)) this.#mine.set(commentId, { version: state.version, mine: state.mine });
    return state;
  }

  /**
   * Flip the connected user's reaction on a comment as last seen: sends the intended final
   * state (`setReaction` with `on` computed here), never a server-side toggle, so a retry or a
   * race cannot flip it twice. Whether you hold it: listed in `userIds` → yes; not listed in a
   * complete list (`count === userIds.length`) → no; in a partial list (a push or an answer
   * lists the first `comments.reactionUsers` users only) what your own latest answer's `mine`
   * said for that comment, and when there is none, the thread is read first (full lists).
   *
   * @example
   * const state = await thread.toggleReaction(comment, 'like');
   */
  async toggleReaction(comment: Pick<Comment, 'id' | 'reactions'>, reaction: string): Promise<ReactionState> {
    return this.setReaction(comment.id, reaction, !(await this.#holds(comment, reaction)));
  }

  /** Whether the connected user holds `reaction` on the comment (see `toggleReaction`). */
  async #holds(comment: Pick<Comment, 'id' | 'reactions'>, reaction: string): Promise<boolean> {
    const me = this.#host.session?.user;
    const seen = comment.reactions.find((r) => r.reaction === reaction);
    if (me === undefined || !seen) return false;
    if (seen.userIds.includes(me)) return true;
    if (seen.count <= seen.userIds.length) return false;
    const known = this.#mine.get(comment.id);
    if (known) return known.mine.includes(reaction);
    const thread = await this.#host.call<Thread>('comments.get', { threadId: this.id });
    const stored = thread.comments.find((c) => c.id === comment.id);
    return stored?.reactions.some((r) => r.reaction === reaction && r.userIds.includes(me)) ?? false;
  }

  /**
   * Tell the thread's watchers you are typing (call it on input; one is sent at a time).
   *
   * @example
   * editor.on('input', () => thread.typing());
   */
  typing(): void {
    if (this.#typing.has(this.id)) return;
    this.#typing.add(this.id);
    const done = () => this.#typing.delete(this.id);
    this.#host.call('comments.typing', { threadId: this.id }).then(done, done);
  }
}
