import { createHash } from 'node:crypto';
import { ErrorCode } from '@switchboard/protocol';
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { ReplyError } from '../../errors/reply-error.js';
import { idempotencyKeys } from '../../storage/idempotency.js';
import { newId } from '../../storage/ids.js';
import { KeyedBatches } from '../../storage/keyed-batches.js';
import { type CursorPosition, decodeCursor, pageOf } from '../../storage/paging.js';
import type { Storage } from '../../storage/storage.js';
import { appendInOneStatement } from './append-statement.js';
import { type Db, notFound, type Trx } from './comment-db.js';
import { FollowerStore, follow } from './follower-store.js';
import {
  type Comment,
  type CommentDraft,
  type CommentRow,
  type Thread,
  type ThreadDraft,
  type ThreadInfo,
  type ThreadRow,
  toComment,
  toThread,
  toThreadInfo,
} from './model.js';
import { ReactionStore, reactionsOf } from './reaction-store.js';
import { ReceiptStore } from './receipt-store.js';
import type { CommentTables } from './tables.js';

const KEY_SCOPE = 'comments';
/** Most comments of one thread appended in one transaction. */
const MAX_APPEND_BATCH = 64;

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

/** A reply's outcome, with the thread's followers after its batch (read once per batch, when first asked). */
export interface Appended extends Written<Comment> {
  followers(): Promise<string[]>;
}

/** The one-statement append updated nothing: roll its transaction back and take the general path. */
const NOT_APPENDED = Symbol('not appended');

/** What a metadata value is matched by: the SHA-256 of its JSON text (bounded, so any value fits the index). */
const metaValue = (v: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify(v) ?? 'null')
    .digest('hex');

/**
 * Comment threads in storage. Every query names the tenant; an id of another tenant is
 * NotFound, exactly like an id that does not exist. One transaction per write; callers
 * publish what committed.
 */
export class CommentStore {
  readonly #db: Kysely<Db>;
  readonly #postgres: boolean;
  readonly reactions: ReactionStore;
  readonly receipts: ReceiptStore;
  readonly followers: FollowerStore;

  constructor(
    storage: Storage,
    private readonly now: () => number = Date.now,
    /** Least time between two appends to one thread, or two reaction batches of one comment, ms (`comments.groupCommit`; 0: once per turn). */
    private readonly groupCommit: () => number = () => 0,
  ) {
    this.#db = storage.tables<CommentTables>();
    this.#postgres = storage.kind === 'postgres';
    this.reactions = new ReactionStore(this.#db, now, storage.kind === 'postgres', groupCommit);
    this.receipts = new ReceiptStore(this.#db, now);
    this.followers = new FollowerStore(this.#db);
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
        responded_at: null,
        sla_alerted_at: null,
      };
      await trx.insertInto('sb_comment_threads').values(row).execute();
      await this.#writeMeta(trx, tenant, row.id, draft.metadata ?? {});
      const comment = this.#commentRow(tenant, row.id, 1, req.userId, draft, now);
      await trx.insertInto('sb_comments').values(comment).execute();
      await follow(trx, tenant, row.id, [req.userId, ...(draft.mentions ?? [])]);
      if (req.idempotencyKey !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, req.idempotencyKey, row.id);
      const thread = toThread(row, [toComment(comment)]);
      return { value: thread, thread, deduplicated: false };
    });
  }

  /**
   * Append a comment: its `seq` is the thread's `last_seq + 1`, taken under the thread row's
   * lock in the same transaction. The comments of one thread that arrive together are
   * appended in one transaction, in arrival order (see `#appendBatch`).
   */
  addComment(req: CommentCreate): Promise<Appended> {
    return this.#appends.run(`${req.tenant}\u0000${req.threadId}`, req);
  }

  readonly #appends = new KeyedBatches<CommentCreate, Appended>({
    max: MAX_APPEND_BATCH,
    spacing: () => this.groupCommit(),
    // One idempotency key at most once per batch: a retry racing its first attempt waits for it.
    fits: (batch, next) => next.idempotencyKey === undefined || !batch.some((r) => r.idempotencyKey === next.idempotencyKey),
    apply: async (batch) => {
      const { tenant, threadId } = batch[0] as CommentCreate;
      const out = (this.#postgres ? await this.#appendFast(batch) : null) ?? (await this.#appendBatch(batch));
      let listed: Promise<string[]> | null = null;
      const followers = () => {
        listed ??= this.followers.list(tenant, threadId);
        return listed;
      };
      return out.map((o) => (o instanceof Error ? o : { ...o, followers }));
    },
  });

  /**
   * PostgreSQL: the whole batch in one statement (see `appendInOneStatement`), in one round
   * trip without idempotency keys; null when it appended nothing (the general path answers).
   */
  async #appendFast(batch: readonly CommentCreate[]): Promise<Array<Written<Comment>> | null> {
    const { tenant, threadId } = batch[0] as CommentCreate;
    const now = this.now();
    const rows = batch.map((r) => this.#commentRow(tenant, threadId, 0, r.userId, r.draft, now));
    const keys = batch.flatMap((r, i) => (r.idempotencyKey === undefined ? [] : [{ key: r.idempotencyKey, commentId: (rows[i] as CommentRow).id }]));
    const plan = {
      tenant,
      threadId,
      maxComments: Math.min(...batch.map((r) => r.maxComments)),
      now,
      rows,
      keys,
      followers: batch.flatMap((r) => [r.userId, ...(r.draft.mentions ?? [])]),
      scope: KEY_SCOPE,
    };
    const thread =
      keys.length === 0
        ? await appendInOneStatement(this.#db, plan)
        : await this.#db
            .transaction()
            .execute(async (trx) => (await appendInOneStatement(trx, plan)) ?? Promise.reject(NOT_APPENDED))
            .catch((err: unknown) => (err === NOT_APPENDED ? null : Promise.reject(err)));
    if (!thread) return null;
    const info = toThreadInfo(thread);
    const before = Number(thread.last_seq) - rows.length;
    return rows.map((row, i) => ({ value: toComment({ ...row, seq: before + i + 1 }), thread: info, deduplicated: false }));
  }

  /**
   * One transaction for a batch of comments of one thread: the idempotency keys claimed
   * together (a key seen before answers its first request's comment), the thread row locked
   * once, the new comments numbered in arrival order up to the thread's cap (beyond it, 106
   * for that request alone, its key given back), inserted together, and the followers and
   * keys written. A thread that does not exist fails the batch (every request gets 404).
   */
  async #appendBatch(batch: readonly CommentCreate[]): Promise<Array<Written<Comment> | Error>> {
    const { tenant, threadId } = batch[0] as CommentCreate;
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const out: Array<Written<Comment> | Error | null> = batch.map(() => null);
      const keyed = batch.flatMap((r, i) => (r.idempotencyKey === undefined ? [] : [{ i, key: r.idempotencyKey }]));
      const claims = await idempotencyKeys.claimMany<string, Db>(
        trx,
        tenant,
        KEY_SCOPE,
        keyed.map((k) => k.key),
        now,
      );
      const seenIds = new Map<number, string>();
      keyed.forEach(({ i }, j) => {
        const claim = claims[j] as (typeof claims)[number];
        if (claim instanceof Error) out[i] = claim;
        else if (!claim.first) seenIds.set(i, claim.result);
      });
      if (seenIds.size > 0) {
        const rows = await trx
          .selectFrom('sb_comments')
          .selectAll()
          .where('tenant', '=', tenant)
          .where('id', 'in', [...new Set(seenIds.values())])
          .execute();
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const [i, id] of seenIds) {
          const row = byId.get(id);
          out[i] = row
            ? { value: toComment(row), thread: toThreadInfo(await this.#threadRow(trx, tenant, row.thread_id)), deduplicated: true }
            : notFound('comment');
        }
      }
      if (out.every((o) => o !== null)) return out as Array<Written<Comment> | Error>;
      // The thread row, locked: every append of the thread takes its turn here.
      const locked = await trx
        .updateTable('sb_comment_threads')
        .set((eb) => ({ last_seq: eb.ref('last_seq') }))
        .where('tenant', '=', tenant)
        .where('id', '=', threadId)
        .returningAll()
        .executeTakeFirst();
      if (!locked) throw notFound('thread');
      let last = Number(locked.last_seq);
      const added: Array<{ i: number; row: CommentRow }> = [];
      for (const [i, req] of batch.entries()) {
        if (out[i] !== null) continue;
        if (last >= req.maxComments) {
          out[i] = new ReplyError(ErrorCode.LimitExceeded, `a thread holds at most ${req.maxComments} comments`);
          if (req.idempotencyKey !== undefined) await idempotencyKeys.release(trx, tenant, KEY_SCOPE, req.idempotencyKey);
          continue;
        }
        added.push({ i, row: this.#commentRow(tenant, threadId, ++last, req.userId, req.draft, now) });
      }
      if (added.length === 0) return out as Array<Written<Comment> | Error>;
      await trx
        .insertInto('sb_comments')
        .values(added.map((a) => a.row))
        .execute();
      const responded = locked.responded_at === null && added.some((a) => a.row.user_id !== locked.created_by);
      const thread = await trx
        .updateTable('sb_comment_threads')
        .set({ last_seq: last, updated_at: now, ...(responded ? { responded_at: now } : {}) })
        .where('id', '=', threadId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await follow(
        trx,
        tenant,
        threadId,
        added.flatMap((a) => [a.row.user_id, ...((batch[a.i] as CommentCreate).draft.mentions ?? [])]),
      );
      const info = toThreadInfo(thread);
      for (const { i, row } of added) {
        const key = (batch[i] as CommentCreate).idempotencyKey;
        if (key !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, key, row.id);
        out[i] = { value: toComment(row), thread: info, deduplicated: false };
      }
      return out as Array<Written<Comment> | Error>;
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
      await follow(trx, tenant, threadId, mentions);
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
      await trx.deleteFrom('sb_comment_followers').where('thread_id', '=', id).execute();
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

  /** Threads whose `respond_by` passed with no reply by another user, not resolved, not reported yet (at most `limit`). */
  async missedDeadlines(limit: number): Promise<ThreadRow[]> {
    return this.#db
      .selectFrom('sb_comment_threads')
      .selectAll()
      .where('respond_by', '<=', this.now())
      .where('responded_at', 'is', null)
      .where('sla_alerted_at', 'is', null)
      .where('resolved', '=', 0)
      .orderBy('respond_by')
      .limit(limit)
      .execute();
  }

  /** Record that a thread's missed deadline was reported. */
  async deadlineReported(id: string): Promise<void> {
    await this.#db.updateTable('sb_comment_threads').set({ sla_alerted_at: this.now() }).where('id', '=', id).where('sla_alerted_at', 'is', null).execute();
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

export function distinct(list: readonly string[]): string[] {
  return [...new Set(list)];
}
