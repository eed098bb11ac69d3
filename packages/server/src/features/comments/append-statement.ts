import { CompiledQuery } from 'kysely';
import type { CommentDb } from './comment-db.js';
import type { CommentRow, ThreadRow } from './model.js';

/** What one statement appends: the new comments (numbered from the thread's `last_seq + 1`, in this order) and their keys. */
export interface AppendPlan {
  tenant: string;
  threadId: string;
  /** The thread's cap: the statement appends nothing when the comments would pass it. */
  maxComments: number;
  now: number;
  rows: ReadonlyArray<Omit<CommentRow, 'seq'>>;
  /** Idempotency keys (scope `scope`) with the comment id each answers; every one must be new, or nothing is appended. */
  keys: ReadonlyArray<{ key: string; commentId: string }>;
  followers: readonly string[];
  scope: string;
}

/**
 * A batch of a thread's comments appended by one PostgreSQL statement: the keys claimed, the
 * thread row updated (which locks it: the appends of a thread take turns there, as in the
 * transaction it replaces), the comments inserted with the seqs that update handed out, and
 * their authors and mentioned users made followers. Every part hangs on the thread's update:
 * when it updates nothing (no such thread, the cap would be passed, a key was used before)
 * nothing else is written and the caller takes the general path, with its per-request
 * answers. Without keys the statement needs no transaction around it (one round trip);
 * with keys, the caller runs it in one and rolls back when the thread was not updated, so
 * the keys it claimed are given back.
 */
const APPEND_SQL = `with k as (
  insert into sb_idempotency_keys (tenant, scope, key, result, created_at)
  select $1, $2, x.key, x.result, $3::bigint from unnest($4::text[], $5::text[]) as x(key, result)
  on conflict (tenant, scope, key) do nothing
  returning key
), t as (
  update sb_comment_threads
  set last_seq = last_seq + $6::integer,
    updated_at = $3::bigint,
    responded_at = case when responded_at is null and created_by <> any($7::text[]) then $3::bigint else responded_at end
  where tenant = $1 and id = $8 and last_seq + $6::integer <= $9::integer and (select count(*) from k) = $10::integer
  returning *
), c as (
  insert into sb_comments (id, tenant, thread_id, seq, user_id, body, mentions, created_at, edited_at, deleted_at, reaction_version)
  select x.id, t.tenant, t.id, t.last_seq - $6::integer + x.n, x.user_id, x.body, x.mentions, $3::bigint, null, null, 0
  from t cross join unnest($11::text[], $7::text[], $12::text[], $13::text[]) with ordinality as x(id, user_id, body, mentions, n)
), f as (
  insert into sb_comment_followers (tenant, thread_id, user_id, following)
  select t.tenant, t.id, u.user_id, 1 from t cross join unnest($14::text[]) as u(user_id)
  on conflict (thread_id, user_id) do nothing
)
select * from t`;

/** Run the append; the thread as it is after it, or null when nothing was appended. */
export async function appendInOneStatement(db: CommentDb, plan: AppendPlan): Promise<ThreadRow | null> {
  const { rows } = plan;
  const params = [
    plan.tenant,
    plan.scope,
    plan.now,
    plan.keys.map((k) => k.key),
    plan.keys.map((k) => JSON.stringify(k.commentId)),
    rows.length,
    rows.map((r) => r.user_id),
    plan.threadId,
    plan.maxComments,
    plan.keys.length,
    rows.map((r) => r.id),
    rows.map((r) => r.body),
    rows.map((r) => r.mentions),
    [...new Set(plan.followers)],
  ];
  const out = await db.executeQuery(CompiledQuery.raw(APPEND_SQL, params) as CompiledQuery<ThreadRow>);
  return out.rows[0] ?? null;
}
