import { createHash } from 'node:crypto';
import { ErrorCode, type ReadReceipt } from '@switchboard/protocol';
import { type ExpressionBuilder, type Kysely, sql, type Transaction } from 'kysely';
import { ReplyError } from '../../errors/reply-error.js';
import { idempotencyKeys } from '../../storage/idempotency.js';
import { newId } from '../../storage/ids.js';
import { type CursorPosition, decodeCursor, pageOf } from '../../storage/paging.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import {
  type Comment,
  type CommentDraft,
  type CommentRow,
  type ReactionCount,
  type Thread,
  type ThreadDraft,
  type ThreadInfo,
  type ThreadRow,
  toComment,
  toThread,
  toThreadInfo,
} from './model.js';
import type { CommentTables } from './tables.js';

const KEY_SCOPE = 'comments';

type Db = SharedTables & CommentTables;
type Trx = Transaction<Db>;

export interface ThreadQuery {
  resolved?: boolean | undefined;
  /** Count each thread's comments this user has not read (`unread`), and with `unread`, list only threads with some. */
  forUser?: string | undefined;
  unread?: boolean | undefined;
  metadata?: Record<string, unknown> | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface ThreadPage {
  threads: Thread[];
  nextCursor: string | null;
}

export interface ThreadCreate {
  tenant: string;
  channel: string;
  userId: string;
  draft: ThreadDraft;
  /** The key as stored: `api:<key>` or `user:<sub>:<key>`. */
  idempotencyKey?: string | undefined;
}

export interface CommentCreate {
  tenant: string;
  threadId: string;
  userId: string;
  draft: CommentDraft;
  maxComments: number;
  idempotencyKey?: string | undefined;
}

/** A write's outcome: what the thread is now, and whether the write was a retry of one already done. */
export interface Written<T> {
  value: T;
  thread: ThreadInfo;
  deduplicated: boolean;
}

/** What a metadata value is matched by: the SHA-256 of its JSON text (bounded, so any value fits the index). */
const metaValue = (v: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify(v) ?? 'null')
    .digest('hex');

const notFound = (what: string) => new ReplyError(ErrorCode.NotFound, `no such ${what}`);

/**
 * Comment threads in storage. Every query names the tenant; an id of another tenant is
 * NotFound, exactly like an id that does not exist. One transaction per write; callers
 * publish what committed.
 */
export class CommentStore {
  readonly #db: Kysely<Db>;

  constructor(
    storage: Storage,
    private readonly now: () => number = Date.now,
  ) {
    this.#db = storage.tables<CommentTables>();
  }

  async createThread(req: ThreadCreate): Promise<Written<Thread>> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const { tenant, draft } = req;
      const claimed = await this.#claim(trx, tenant, req.idempotencyKey, now);
      if (claimed) {
        const thread = await this.#thread(trx, tenant, claimed);
        return { value: thread, thread, deduplicated: true };
      }
      const row: ThreadRow = {
        id: newId('t', now),
        tenant,
        channel: req.channel,
        metadata: JSON.stringify(draft.metadata ?? {}),
        resolved: 0,
        resolved_at: null,
        resolved_by: null,
        created_by: req.userId,
        created_at: now,
        updated_at: now,
        respond_by: draft.respondBy ?? null,
        last_seq: 1,
      };
      await trx.insertInto('sb_comment_threads').values(row).execute();
      await this.#writeMeta(trx, tenant, row.id, draft.metadata ?? {});
      const comment = this.#commentRow(tenant, row.id, 1, req.userId, draft, now);
      await trx.insertInto('sb_comments').values(comment).execute();
      if (req.idempotencyKey !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, req.idempotencyKey, row.id);
      const thread = toThread(row, [toComment(comment)]);
      return { value: thread, thread, deduplicated: false };
    });
  }

  /** Append a comment: its `seq` is the thread's `last_seq + 1`, taken by an update of the thread row in the same transaction. */
  async addComment(req: CommentCreate): Promise<Written<Comment>> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const { tenant } = req;
      const claimed = await this.#claim(trx, tenant, req.idempotencyKey, now);
      if (claimed) {
        const row = await trx.selectFrom('sb_comments').selectAll().where('tenant', '=', tenant).where('id', '=', claimed).executeTakeFirst();
        if (!row) throw notFound('comment');
        return { value: toComment(row), thread: toThreadInfo(await this.#threadRow(trx, tenant, row.thread_id)), deduplicated: true };
      }
      const thread = await trx
        .updateTable('sb_comment_threads')
        .set((eb) => ({ last_seq: eb('last_seq', '+', 1), updated_at: now }))
        .where('tenant', '=', tenant)
        .where('id', '=', req.threadId)
        .where('last_seq', '<', req.maxComments)
        .returningAll()
        .executeTakeFirst();
      if (!thread) {
        await this.#threadRow(trx, tenant, req.threadId); // NotFound when it does not exist
        throw new ReplyError(ErrorCode.LimitExceeded, `a thread holds at most ${req.maxComments} comments`);
      }
      const row = this.#commentRow(tenant, thread.id, Number(thread.last_seq), req.userId, req.draft, now);
      await trx.insertInto('sb_comments').values(row).execute();
      if (req.idempotencyKey !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, req.idempotencyKey, row.id);
      return { value: toComment(row), thread: toThreadInfo(thread), deduplicated: false };
    });
  }

  /**
   * Change a comment's body (and mentions) or make it a tombstone. `author` null: the
   * backend, which may change any comment. Returns the comment as it is now, the mentions it
   * gained, and whether anything changed (deleting a tombstone again changes nothing).
   */
  async changeComment(
    tenant: string,
    threadId: string,
    id: string,
    author: string | null,
    change: { edit: CommentDraft } | { delete: true },
  ): Promise<{ comment: Comment; added: string[]; changed: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const row = await trx
        .selectFrom('sb_comments')
        .selectAll()
        .where('tenant', '=', tenant)
        .where('thread_id', '=', threadId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw notFound('comment');
      if (author !== null && row.user_id !== author) throw new ReplyError(ErrorCode.PermissionDenied, 'only its author may change a comment');
      if ('delete' in change) {
        if (row.deleted_at !== null) return { comment: toComment(row), added: [], changed: false };
        const next: CommentRow = { ...row, body: '', mentions: '[]', deleted_at: now, reaction_version: Number(row.reaction_version) + 1 };
        await trx
          .updateTable('sb_comments')
          .set({ body: '', mentions: '[]', deleted_at: now, reaction_version: next.reaction_version })
          .where('id', '=', id)
          .execute();
        await trx.deleteFrom('sb_comment_reactions').where('comment_id', '=', id).execute();
        return { comment: toComment(next), added: [], changed: true };
      }
      if (row.deleted_at !== null) throw new ReplyError(ErrorCode.Conflict, 'the comment was deleted');
      const before = new Set(JSON.parse(row.mentions) as string[]);
      const mentions = distinct(change.edit.mentions ?? []);
      const next: CommentRow = { ...row, body: change.edit.body, mentions: JSON.stringify(mentions), edited_at: now };
      await trx.updateTable('sb_comments').set({ body: next.body, mentions: next.mentions, edited_at: now }).where('id', '=', id).execute();
      const reactions = (await reactionsOf(trx, [id])).get(id) ?? [];
      return { comment: toComment(next, reactions), added: mentions.filter((m) => !before.has(m)), changed: true };
    });
  }

  /** Replace the metadata and/or set the resolved state; `changed` is false when nothing differed. */
  async updateThread(
    tenant: string,
    id: string,
    userId: string | null,
    patch: { metadata?: Record<string, unknown> | undefined; resolved?: boolean | undefined },
  ): Promise<{ thread: ThreadInfo; changed: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const row = await this.#threadRow(trx, tenant, id);
      const next: ThreadRow = { ...row };
      if (patch.metadata !== undefined) next.metadata = JSON.stringify(patch.metadata);
      if (patch.resolved !== undefined && patch.resolved !== (Number(row.resolved) === 1)) {
        next.resolved = patch.resolved ? 1 : 0;
        next.resolved_at = patch.resolved ? now : null;
        next.resolved_by = patch.resolved ? userId : null;
      }
      const changed = next.metadata !== row.metadata || next.resolved !== row.resolved;
      if (!changed) return { thread: toThreadInfo(row), changed: false };
      next.updated_at = now;
      await trx
        .updateTable('sb_comment_threads')
        .set({ metadata: next.metadata, resolved: next.resolved, resolved_at: next.resolved_at, resolved_by: next.resolved_by, updated_at: now })
        .where('id', '=', id)
        .execute();
      if (patch.metadata !== undefined) {
        await trx.deleteFrom('sb_comment_thread_meta').where('thread_id', '=', id).execute();
        await this.#writeMeta(trx, tenant, id, patch.metadata);
      }
      return { thread: toThreadInfo(next), changed: true };
    });
  }

  /** Delete a thread with its comments; returns it as it was. */
  async deleteThread(tenant: string, id: string): Promise<ThreadInfo> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await this.#threadRow(trx, tenant, id);
      await trx.deleteFrom('sb_comment_reactions').where('thread_id', '=', id).execute();
      await trx.deleteFrom('sb_comment_receipts').where('thread_id', '=', id).execute();
      await trx.deleteFrom('sb_comments').where('thread_id', '=', id).execute();
      await trx.deleteFrom('sb_comment_thread_meta').where('thread_id', '=', id).execute();
      await trx.deleteFrom('sb_comment_threads').where('id', '=', id).execute();
      return toThreadInfo(row);
    });
  }

  /** A thread of the tenant, NotFound otherwise. */
  async threadInfo(tenant: string, id: string): Promise<ThreadInfo> {
    return toThreadInfo(await this.#threadRow(this.#db, tenant, id));
  }

  async thread(tenant: string, id: string): Promise<Thread> {
    return this.#thread(this.#db, tenant, id);
  }

  /** Threads of a channel, newest first, with their comments. */
  async list(tenant: string, channel: string, q: ThreadQuery): Promise<ThreadPage> {
    const after: CursorPosition | undefined = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    let query = this.#db.selectFrom('sb_comment_threads').selectAll().where('tenant', '=', tenant).where('channel', '=', channel);
    if (q.resolved !== undefined) query = query.where('resolved', '=', q.resolved ? 1 : 0);
    for (const [key, value] of Object.entries(q.metadata ?? {})) {
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('sb_comment_thread_meta as m')
            .select('m.key')
            .whereRef('m.thread_id', '=', 'sb_comment_threads.id')
            .where('m.tenant', '=', tenant)
            .where('m.key', '=', key)
            .where('m.value_hash', '=', metaValue(value)),
        ),
      );
    }
    const reader = q.forUser;
    if (reader !== undefined && q.unread !== undefined) {
      const some = ({ exists, selectFrom }: ExpressionBuilder<Db, 'sb_comment_threads'>) =>
        exists(
          selectFrom('sb_comments as c')
            .select('c.id')
            .whereRef('c.thread_id', '=', 'sb_comment_threads.id')
            .where('c.deleted_at', 'is', null)
            .where('c.user_id', '<>', reader)
            .where(
              'c.seq',
              '>',
              sql<number>`coalesce((select r.seq from sb_comment_receipts r where r.thread_id = sb_comment_threads.id and r.user_id = ${reader}), 0)`,
            ),
        );
      query = query.where((eb) => (q.unread ? some(eb) : eb.not(some(eb))));
    }
    if (after) query = query.where((eb) => eb.or([eb('created_at', '<', after.time), eb.and([eb('created_at', '=', after.time), eb('id', '<', after.id)])]));
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const page = pageOf(rows, q.limit, (r) => ({ time: Number(r.created_at), id: r.id }));
    const comments = await this.#commentsOf(
      this.#db,
      tenant,
      page.rows.map((r) => r.id),
    );
    const unread =
      reader === undefined
        ? null
        : await this.unreadCounts(
            tenant,
            reader,
            page.rows.map((r) => r.id),
          );
    const threads = page.rows.map((r) => {
      const t = toThread(r, comments.get(r.id) ?? []);
      if (unread) t.unread = unread.get(r.id) ?? 0;
      return t;
    });
    return { threads, nextCursor: page.nextCursor };
  }

  /** Per thread, its comments (tombstones not counted) by others than `user` after the user's receipt. */
  async unreadCounts(tenant: string, user: string, threadIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (threadIds.length === 0) return out;
    const rows = await this.#db
      .selectFrom('sb_comments as c')
      .leftJoin('sb_comment_receipts as r', (j) => j.onRef('r.thread_id', '=', 'c.thread_id').on('r.user_id', '=', user))
      .select(['c.thread_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('c.tenant', '=', tenant)
      .where('c.thread_id', 'in', threadIds)
      .where('c.deleted_at', 'is', null)
      .where('c.user_id', '<>', user)
      .where(sql<boolean>`c.seq > coalesce(r.seq, 0)`)
      .groupBy('c.thread_id')
      .execute();
    for (const r of rows) out.set(r.thread_id, Number(r.n));
    return out;
  }

  /**
   * Give (`on`) or take back a reaction of a user. At most one row per (comment, user,
   * reaction) exists, by the primary key: giving twice inserts nothing the second time and
   * taking back an absent one deletes nothing; neither reads first. A change bumps the
   * comment's `reaction_version` in the same transaction; the answer is the comment's
   * reactions as stored then, with that version. The comment's row is locked first, so the
   * requests of one comment take turns (the unique key alone would keep the rows right; the
   * lock makes every answer the state right after its own request).
   */
  async setReaction(tenant: string, threadId: string, commentId: string, userId: string, reaction: string, on: boolean): Promise<ReactionState> {
    return this.#db.transaction().execute(async (trx) => {
      // A no-op update locks the comment's row (PostgreSQL): the requests of one comment take
      // turns, so each answer is the state its own change produced.
      const row = await trx
        .updateTable('sb_comments')
        .set((eb) => ({ reaction_version: eb.ref('reaction_version') }))
        .where('tenant', '=', tenant)
        .where('thread_id', '=', threadId)
        .where('id', '=', commentId)
        .returning(['deleted_at', 'reaction_version'])
        .executeTakeFirst();
      if (!row) throw notFound('comment');
      if (row.deleted_at !== null) throw new ReplyError(ErrorCode.Conflict, 'the comment was deleted');
      let changed: boolean;
      if (on) {
        const res = await trx
          .insertInto('sb_comment_reactions')
          .values({ tenant, thread_id: threadId, comment_id: commentId, user_id: userId, reaction, created_at: this.now() })
          .onConflict((oc) => oc.columns(['comment_id', 'user_id', 'reaction']).doNothing())
          .executeTakeFirst();
        changed = Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
      } else {
        const res = await trx
          .deleteFrom('sb_comment_reactions')
          .where('comment_id', '=', commentId)
          .where('user_id', '=', userId)
          .where('reaction', '=', reaction)
          .executeTakeFirst();
        changed = Number(res.numDeletedRows) > 0;
      }
      let version = Number(row.reaction_version);
      if (changed) {
        const bumped = await trx
          .updateTable('sb_comments')
          .set((eb) => ({ reaction_version: eb('reaction_version', '+', 1) }))
          .where('id', '=', commentId)
          .returning('reaction_version')
          .executeTakeFirstOrThrow();
        version = Number(bumped.reaction_version);
      }
      const reactions = (await reactionsOf(trx, [commentId])).get(commentId) ?? [];
      return { reactions, version, changed };
    });
  }

  /** A comment's reactions as stored now (for pushes: every watcher converges to the database). */
  async reactionState(tenant: string, commentId: string): Promise<ReactionState | null> {
    const row = await this.#db
      .selectFrom('sb_comments')
      .select(['reaction_version'])
      .where('tenant', '=', tenant)
      .where('id', '=', commentId)
      .executeTakeFirst();
    if (!row) return null;
    const reactions = (await reactionsOf(this.#db, [commentId])).get(commentId) ?? [];
    return { reactions, version: Number(row.reaction_version), changed: false };
  }

  /**
   * Move a user's receipt in a thread forward to a comment of that thread (117 for a comment
   * of another thread). One upsert that changes the row only for a higher `seq`, so a receipt
   * never moves back, also when two requests race. Answers the receipt as stored.
   */
  async markRead(tenant: string, threadId: string, commentId: string, userId: string): Promise<{ receipt: Receipt; changed: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      const comment = await trx
        .selectFrom('sb_comments')
        .select(['seq'])
        .where('tenant', '=', tenant)
        .where('thread_id', '=', threadId)
        .where('id', '=', commentId)
        .executeTakeFirst();
      if (!comment) throw notFound('comment in this thread');
      const res = await trx
        .insertInto('sb_comment_receipts')
        .values({ tenant, thread_id: threadId, user_id: userId, seq: Number(comment.seq), comment_id: commentId, read_at: this.now() })
        .onConflict((oc) =>
          oc
            .columns(['thread_id', 'user_id'])
            .doUpdateSet((eb) => ({ seq: eb.ref('excluded.seq'), comment_id: eb.ref('excluded.comment_id'), read_at: eb.ref('excluded.read_at') }))
            .where('sb_comment_receipts.seq', '<', (eb) => eb.ref('excluded.seq')),
        )
        .executeTakeFirst();
      const row = await trx
        .selectFrom('sb_comment_receipts')
        .selectAll()
        .where('thread_id', '=', threadId)
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow();
      return { receipt: toReceipt(row), changed: Number(res.numInsertedOrUpdatedRows ?? 0) > 0 };
    });
  }

  /** The receipts of a thread, by user. */
  async receipts(tenant: string, threadId: string, userId?: string): Promise<Receipt[]> {
    let q = this.#db.selectFrom('sb_comment_receipts').selectAll().where('tenant', '=', tenant).where('thread_id', '=', threadId);
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('user_id').execute()).map(toReceipt);
  }

  /** Forget idempotency keys older than the TTL. */
  async sweep(idempotencyTtl: number): Promise<number> {
    return idempotencyKeys.sweep(this.#db, KEY_SCOPE, this.now() - idempotencyTtl);
  }

  /** Claim an idempotency key; the id written by the request that claimed it first, or null when this one is first. */
  async #claim(trx: Trx, tenant: string, key: string | undefined, now: number): Promise<string | null> {
    if (key === undefined) return null;
    const claim = await idempotencyKeys.claim<string, Db>(trx, tenant, KEY_SCOPE, key, now);
    return claim.first ? null : claim.result;
  }

  async #threadRow(db: Kysely<Db>, tenant: string, id: string): Promise<ThreadRow> {
    const row = await db.selectFrom('sb_comment_threads').selectAll().where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('thread');
    return row;
  }

  async #thread(db: Kysely<Db>, tenant: string, id: string): Promise<Thread> {
    const row = await this.#threadRow(db, tenant, id);
    const comments = await this.#commentsOf(db, tenant, [id]);
    return toThread(row, comments.get(id) ?? []);
  }

  async #commentsOf(db: Kysely<Db>, tenant: string, threadIds: readonly string[]): Promise<Map<string, Comment[]>> {
    const out = new Map<string, Comment[]>();
    if (threadIds.length === 0) return out;
    const rows = await db
      .selectFrom('sb_comments')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('thread_id', 'in', threadIds)
      .orderBy('thread_id')
      .orderBy('seq')
      .execute();
    const reactions = await reactionsOf(
      db,
      rows.filter((r) => r.reaction_version > 0).map((r) => r.id),
    );
    for (const r of rows) {
      const comment = toComment(r, reactions.get(r.id) ?? []);
      const list = out.get(r.thread_id);
      if (list) list.push(comment);
      else out.set(r.thread_id, [comment]);
    }
    return out;
  }

  #commentRow(tenant: string, threadId: string, seq: number, userId: string, draft: CommentDraft, now: number): CommentRow {
    return {
      id: newId('c', now),
      tenant,
      thread_id: threadId,
      seq,
      user_id: userId,
      body: draft.body,
      mentions: JSON.stringify(distinct(draft.mentions ?? [])),
      created_at: now,
      edited_at: null,
      deleted_at: null,
      reaction_version: 0,
    };
  }

  async #writeMeta(trx: Trx, tenant: string, threadId: string, metadata: Record<string, unknown>): Promise<void> {
    const entries = Object.entries(metadata);
    if (entries.length === 0) return;
    await trx
      .insertInto('sb_comment_thread_meta')
      .values(entries.map(([key, value]) => ({ tenant, thread_id: threadId, key, value_hash: metaValue(value) })))
      .execute();
  }
}

/** How far a user has read a thread. */
export type Receipt = ReadReceipt;

const toReceipt = (r: { user_id: string; comment_id: string; seq: number; read_at: number }): Receipt => ({
  userId: r.user_id,
  commentId: r.comment_id,
  seq: Number(r.seq),
  readAt: Number(r.read_at),
});

/** A comment's reactions and the version they are at. */
export interface ReactionState {
  reactions: ReactionCount[];
  /** The comment's `reaction_version`: a higher one is a later state. */
  version: number;
  /** Whether this request changed anything. */
  changed: boolean;
}

/** The reactions of comments, each in the order it was first given, with its users in the order they gave it. */
async function reactionsOf(db: Kysely<Db>, commentIds: readonly string[]): Promise<Map<string, ReactionCount[]>> {
  const out = new Map<string, ReactionCount[]>();
  if (commentIds.length === 0) return out;
  const rows = await db
    .selectFrom('sb_comment_reactions')
    .select(['comment_id', 'reaction', 'user_id'])
    .where('comment_id', 'in', commentIds)
    .orderBy('comment_id')
    .orderBy('created_at')
    .orderBy('user_id')
    .orderBy('reaction')
    .execute();
  for (const r of rows) {
    let list = out.get(r.comment_id);
    if (!list) {
      list = [];
      out.set(r.comment_id, list);
    }
    let entry = list.find((e) => e.reaction === r.reaction);
    if (!entry) {
      entry = { reaction: r.reaction, count: 0, userIds: [] };
      list.push(entry);
    }
    entry.count++;
    entry.userIds.push(r.user_id);
  }
  return out;
}

export function distinct(list: readonly string[]): string[] {
  return [...new Set(list)];
}
