import { ErrorCode } from '@switchboard/protocol';
import { CompiledQuery, sql } from 'kysely';
import { ReplyError } from '../../errors/reply-error.js';
import { KeyedBatches } from '../../storage/keyed-batches.js';
import { type CommentDb, notFound } from './comment-db.js';
import type { ReactionCount } from './model.js';

/** A comment's reactions (each listing at most the cap's users) and the version they are at. */
export interface ReactionState {
  reactions: ReactionCount[];
  /** The comment's `reaction_version`: a higher one is a later state. */
  version: number;
}

/** The state after one reaction request, for its answer. */
export interface ReactionChange extends ReactionState {
  /** Whether this request changed anything. */
  changed: boolean;
  /** The reactions the request's user holds on the comment after it, in the order given. */
  mine: string[];
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
  addReactions(out, rows);
  return out;
}

/** Add reaction rows (in the order they were given) to each comment's counts. */
function addReactions(out: Map<string, ReactionCount[]>, rows: ReadonlyArray<{ comment_id: string; reaction: string; user_id: string }>): void {
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
}

type CappedRow = { reaction: string; user_id: string; n: number | string };

/**
 * Capped rows into counts: `n` is the reaction's exact count, the rows are its first users in
 * the order they gave it (at least one per reaction, so the counts survive a cap of 0).
 */
function cappedReactions(rows: ReadonlyArray<CappedRow>, cap: number): ReactionCount[] {
  const out: ReactionCount[] = [];
  const byReaction = new Map<string, ReactionCount>();
  for (const r of rows) {
    let entry = byReaction.get(r.reaction);
    if (!entry) {
      entry = { reaction: r.reaction, count: Number(r.n), userIds: [] };
      byReaction.set(r.reaction, entry);
      out.push(entry);
    }
    if (entry.userIds.length < cap) entry.userIds.push(r.user_id);
  }
  return out;
}

/**
 * A comment's reactions with at most `cap` users each, counted and cut in SQL (both stores):
 * the rows returned are the first `cap` users of each reaction with its count, never all of them.
 */
export async function reactionsCapped(db: CommentDb, commentId: string, cap: number): Promise<ReactionCount[]> {
  const { rows } = await sql<CappedRow>`select reaction, user_id, n from (
    select reaction, user_id, created_at,
      row_number() over (partition by reaction order by created_at, user_id) as rn,
      count(*) over (partition by reaction) as n
    from sb_comment_reactions where comment_id = ${commentId}
  ) ranked where rn <= ${Math.max(cap, 1)} order by created_at, user_id, reaction`.execute(db);
  return cappedReactions(rows, cap);
}

/** The reactions each of `users` holds on a comment, in the order given. */
async function reactionsOfUsers(db: CommentDb, commentId: string, users: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await db
    .selectFrom('sb_comment_reactions')
    .select(['user_id', 'reaction'])
    .where('comment_id', '=', commentId)
    .where('user_id', 'in', users)
    .orderBy('created_at')
    .orderBy('user_id')
    .orderBy('reaction')
    .execute();
  return mineByUser(rows);
}

function mineByUser(rows: ReadonlyArray<{ user_id: string | null; reaction: string | null }>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of rows) {
    const list = out.get(r.user_id as string);
    if (list) list.push(r.reaction as string);
    else out.set(r.user_id as string, [r.reaction as string]);
  }
  return out;
}

/**
 * PostgreSQL, with the comment's row locked by the transaction: a batch's gives and takes,
 * the version bump and the reactions as they are after them, in one statement. The reactions
 * are the rows this statement's snapshot sees (taken after the lock, so every change before
 * it is in) less the ones it deleted plus the ones it inserted (`cur`); rows: `c` a changed
 * (user, reaction), `v` the new version, `r` the first $9 users of each reaction in the order
 * they gave it with the reaction's count `n` (so a hot comment returns a few rows, not every
 * one), `m` the reactions the batch's users ($10) hold.
 */
const CHANGE_SQL = `with ins as (
  insert into sb_comment_reactions (tenant, thread_id, comment_id, user_id, reaction, created_at)
  select $1, $2, $3, x.user_id, x.reaction, $4::bigint from unnest($5::text[], $6::text[]) as x(user_id, reaction)
  on conflict (comment_id, user_id, reaction) do nothing
  returning user_id, reaction, created_at
), del as (
  delete from sb_comment_reactions r using unnest($7::text[], $8::text[]) as x(user_id, reaction)
  where r.comment_id = $3 and r.user_id = x.user_id and r.reaction = x.reaction
  returning r.user_id, r.reaction
), b as (
  update sb_comments set reaction_version = reaction_version + (select count(*) from ins) + (select count(*) from del)
  where id = $3
  returning reaction_version
), cur as (
  select r.user_id, r.reaction, r.created_at from sb_comment_reactions r
  where r.comment_id = $3 and not exists (select 1 from del d where d.user_id = r.user_id and d.reaction = r.reaction)
  union all select user_id, reaction, created_at from ins
), ranked as (
  select user_id, reaction, created_at,
    row_number() over (partition by reaction order by created_at, user_id) as rn,
    count(*) over (partition by reaction) as n
  from cur
)
select 'c' as part, user_id, reaction, 0::bigint as at, 0::bigint as n from ins
union all select 'c', user_id, reaction, 0, 0 from del
union all select 'v', null, null, reaction_version, 0 from b
union all select 'r', user_id, reaction, created_at, n from ranked where rn <= $9::bigint
union all select 'm', user_id, reaction, created_at, 0 from cur where user_id = any($10::text[])
order by part, at, user_id, reaction`;

type ChangeRow = { part: 'c' | 'v' | 'r' | 'm'; user_id: string | null; reaction: string | null; at: number; n: number | string };

/** Most reaction requests of one comment applied in one transaction. */
const MAX_BATCH = 256;

interface Change {
  tenant: string;
  threadId: string;
  commentId: string;
  userId: string;
  reaction: string;
  on: boolean;
  /** Most users listed per reaction in the answer (the same for every request of a comment). */
  cap: number;
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
  readonly #batches = new KeyedBatches<Change, ReactionChange>({
    max: MAX_BATCH,
    spacing: () => this.groupCommit(),
    fits: (batch, next) => next.threadId === (batch[0] as Change).threadId && !batch.some((c) => c.userId === next.userId && c.reaction === next.reaction),
    apply: (batch) => this.#apply(batch),
  });

  constructor(
    private readonly db: CommentDb,
    private readonly now: () => number,
    private readonly postgres: boolean,
    /** Least time between two reaction batches of one comment, ms (`comments.groupCommit`). */
    private readonly groupCommit: () => number = () => 0,
  ) {}

  /**
   * Give (`on`) or take back a reaction of a user. At most one row per (comment, user,
   * reaction) exists, by the primary key: giving twice inserts nothing the second time and
   * taking back an absent one deletes nothing; neither reads first. A change bumps the
   * comment's `reaction_version` in the same transaction; the answer is the comment's
   * reactions as stored when that transaction commits (exact counts, at most `cap` users
   * each), with this request's version and the reactions its user then holds.
   */
  set(tenant: string, threadId: string, commentId: string, userId: string, reaction: string, on: boolean, cap: number): Promise<ReactionChange> {
    return this.#batches.run(`${tenant}\u0000${commentId}`, { tenant, threadId, commentId, userId, reaction, on, cap });
  }

  async #apply(batch: readonly Change[]): Promise<ReactionChange[]> {
    const { tenant, threadId, commentId, cap } = batch[0] as Change;
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
      if (this.postgres) return this.#applyInOneStatement(trx, batch);
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
      const reactions = await reactionsCapped(trx, commentId, cap);
      const mine = await reactionsOfUsers(trx, commentId, [...new Set(batch.map((c) => c.userId))]);
      // The k-th request that changed something gets the k-th new version; a no-op, the last.
      let k = version - changes;
      return changed.map((c, i) => ({ reactions, version: c ? ++k : version, changed: c, mine: mine.get((batch[i] as Change).userId) ?? [] }));
    });
  }

  async #applyInOneStatement(trx: CommentDb, batch: readonly Change[]): Promise<ReactionChange[]> {
    const { tenant, threadId, commentId, cap } = batch[0] as Change;
    const gives = batch.filter((c) => c.on);
    const takes = batch.filter((c) => !c.on);
    const params = [
      tenant,
      threadId,
      commentId,
      this.now(),
      gives.map((c) => c.userId),
      gives.map((c) => c.reaction),
      takes.map((c) => c.userId),
      takes.map((c) => c.reaction),
      Math.max(cap, 1),
      [...new Set(batch.map((c) => c.userId))],
    ];
    const { rows } = await trx.executeQuery(CompiledQuery.raw(CHANGE_SQL, params) as CompiledQuery<ChangeRow>);
    const key = (userId: string | null, reaction: string | null) => `${userId}\u0000${reaction}`;
    const done = new Set(rows.filter((r) => r.part === 'c').map((r) => key(r.user_id, r.reaction)));
    const version = Number(rows.find((r) => r.part === 'v')?.at);
    const reactions = cappedReactions(
      rows.filter((r) => r.part === 'r').map((r) => ({ reaction: r.reaction as string, user_id: r.user_id as string, n: r.n })),
      cap,
    );
    const mine = mineByUser(rows.filter((r) => r.part === 'm'));
    const changed = batch.map((c) => done.has(key(c.userId, c.reaction)));
    // The k-th request that changed something gets the k-th new version; a no-op, the last.
    let k = version - done.size;
    return changed.map((c, i) => ({ reactions, version: c ? ++k : version, changed: c, mine: mine.get((batch[i] as Change).userId) ?? [] }));
  }

  /**
   * A comment's reactions as stored now (exact counts, at most `cap` users each), with the
   * version they are at (for pushes: every watcher converges to the database). Both come from
   * one state: on PostgreSQL the version is read under a share lock of the comment's row, which
   * every change takes first, so no change commits between the two reads (a push never pairs
   * newer reactions with an older version).
   */
  state(tenant: string, commentId: string, cap: number): Promise<ReactionState | null> {
    return this.db.transaction().execute(async (trx) => {
      let read = trx.selectFrom('sb_comments').select(['reaction_version']).where('tenant', '=', tenant).where('id', '=', commentId);
      if (this.postgres) read = read.forShare();
      const row = await read.executeTakeFirst();
      if (!row) return null;
      return { reactions: await reactionsCapped(trx, commentId, cap), version: Number(row.reaction_version) };
    });
  }
}
