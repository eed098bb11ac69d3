import { ErrorCode } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import { KeyedBatches } from '../../storage/keyed-batches.js';
import { type CommentDb, notFound } from './comment-db.js';
import type { ReactionCount } from './model.js';

/** A comment's reactions and the version they are at. */
export interface ReactionState {
  reactions: ReactionCount[];
  /** The comment's `reaction_version`: a higher one is a later state. */
  version: number;
  /** Whether this request changed anything. */
  changed: boolean;
}

/** The reactions of comments, each in the order it was first given, with its users in the order they gave it. */
export async function reactionsOf(db: CommentDb, commentIds: readonly string[]): Promise<Map<string, ReactionCount[]>> {
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

/** Most reaction requests of one comment applied in one transaction. */
const MAX_BATCH = 256;

interface Change {
  tenant: string;
  threadId: string;
  commentId: string;
  userId: string;
  reaction: string;
  on: boolean;
}

/**
 * Reactions in storage: at most one row per (comment, user, reaction), by the primary key.
 *
 * The requests of one comment take turns, and those that arrive together are applied in
 * one transaction (`KeyedBatches`): one lock of the comment's row, their inserts and
 * deletes in arrival order, one version bump and one read of the reactions for all their
 * answers. A hot comment then costs one read per batch, not one per change. A batch never
 * holds two requests for the same (user, reaction) or for another thread, so each answer
 * shows its own request's effect; each request that changed something gets its own version,
 * in arrival order.
 */
export class ReactionStore {
  readonly #batches = new KeyedBatches<Change, ReactionState>({
    max: MAX_BATCH,
    fits: (batch, next) => next.threadId === (batch[0] as Change).threadId && !batch.some((c) => c.userId === next.userId && c.reaction === next.reaction),
    apply: (batch) => this.#apply(batch),
  });

  constructor(
    private readonly db: CommentDb,
    private readonly now: () => number,
    private readonly postgres: boolean,
  ) {}

  /**
   * Give (`on`) or take back a reaction of a user. At most one row per (comment, user,
   * reaction) exists, by the primary key: giving twice inserts nothing the second time and
   * taking back an absent one deletes nothing; neither reads first. A change bumps the
   * comment's `reaction_version` in the same transaction; the answer is the comment's
   * reactions as stored when that transaction commits, with this request's version.
   */
  set(tenant: string, threadId: string, commentId: string, userId: string, reaction: string, on: boolean): Promise<ReactionState> {
    return this.#batches.run(`${tenant}\u0000${commentId}`, { tenant, threadId, commentId, userId, reaction, on });
  }

  async #apply(batch: readonly Change[]): Promise<ReactionState[]> {
    const { tenant, threadId, commentId } = batch[0] as Change;
    return this.db.transaction().execute(async (trx) => {
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
      // A batch holds each (user, reaction) once, so its inserts and its deletes are two
      // statements whose order does not matter; RETURNING says which rows each changed.
      const key = (userId: string, reaction: string) => `${userId}\u0000${reaction}`;
      const done = new Set<string>();
      const gives = batch.filter((c) => c.on);
      const takes = batch.filter((c) => !c.on);
      if (gives.length > 0) {
        const now = this.now();
        const rows = await trx
          .insertInto('sb_comment_reactions')
          .values(gives.map((c) => ({ tenant, thread_id: threadId, comment_id: commentId, user_id: c.userId, reaction: c.reaction, created_at: now })))
          .onConflict((oc) => oc.columns(['comment_id', 'user_id', 'reaction']).doNothing())
          .returning(['user_id', 'reaction'])
          .execute();
        for (const r of rows) done.add(key(r.user_id, r.reaction));
      }
      if (takes.length > 0) {
        const rows = await trx
          .deleteFrom('sb_comment_reactions')
          .where('comment_id', '=', commentId)
          .where((eb) => eb.or(takes.map((c) => eb.and([eb('user_id', '=', c.userId), eb('reaction', '=', c.reaction)]))))
          .returning(['user_id', 'reaction'])
          .execute();
        for (const r of rows) done.add(key(r.user_id, r.reaction));
      }
      const changed = batch.map((c) => done.has(key(c.userId, c.reaction)));
      const changes = changed.filter(Boolean).length;
      let version = Number(row.reaction_version);
      if (changes > 0) {
        const bumped = await trx
          .updateTable('sb_comments')
          .set((eb) => ({ reaction_version: eb('reaction_version', '+', changes) }))
          .where('id', '=', commentId)
          .returning('reaction_version')
          .executeTakeFirstOrThrow();
        version = Number(bumped.reaction_version);
      }
      const reactions = (await reactionsOf(trx, [commentId])).get(commentId) ?? [];
      // The k-th request that changed something gets the k-th new version; a no-op, the last.
      let k = version - changes;
      return changed.map((c) => ({ reactions, version: c ? ++k : version, changed: c }));
    });
  }

  /**
   * A comment's reactions as stored now, with the version they are at (for pushes: every
   * watcher converges to the database). Both come from one state: on PostgreSQL the version is
   * read under a share lock of the comment's row, which every change takes first, so no change
   * commits between the two reads (a push never pairs newer reactions with an older version).
   */
  state(tenant: string, commentId: string): Promise<ReactionState | null> {
    return this.db.transaction().execute(async (trx) => {
      let read = trx.selectFrom('sb_comments').select(['reaction_version']).where('tenant', '=', tenant).where('id', '=', commentId);
      if (this.postgres) read = read.forShare();
      const row = await read.executeTakeFirst();
      if (!row) return null;
      const reactions = (await reactionsOf(trx, [commentId])).get(commentId) ?? [];
      return { reactions, version: Number(row.reaction_version), changed: false };
    });
  }
}
