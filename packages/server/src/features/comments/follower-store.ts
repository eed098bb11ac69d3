import type { CommentDb, Trx } from './comment-db.js';

/** Subscribe users to a thread's replies unless they are subscribed or unsubscribed already. */
export async function follow(trx: Trx, tenant: string, threadId: string, users: readonly string[]): Promise<void> {
  const distinctUsers = [...new Set(users)];
  if (distinctUsers.length === 0) return;
  await trx
    .insertInto('sb_comment_followers')
    .values(distinctUsers.map((user_id) => ({ tenant, thread_id: threadId, user_id, following: 1 })))
    .onConflict((oc) => oc.columns(['thread_id', 'user_id']).doNothing())
    .execute();
}

/** Who gets a thread's reply notifications. */
export class FollowerStore {
  constructor(private readonly db: CommentDb) {}

  /** Subscribe a user to a thread's reply notifications, or unsubscribe (kept, so later replies do not subscribe again). */
  async set(tenant: string, threadId: string, userId: string, following: boolean): Promise<void> {
    const value = following ? 1 : 0;
    await this.db
      .insertInto('sb_comment_followers')
      .values({ tenant, thread_id: threadId, user_id: userId, following: value })
      .onConflict((oc) => oc.columns(['thread_id', 'user_id']).doUpdateSet({ following: value }))
      .execute();
  }

  /** Users subscribed to a thread's reply notifications. */
  async list(tenant: string, threadId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sb_comment_followers')
      .select('user_id')
      .where('tenant', '=', tenant)
      .where('thread_id', '=', threadId)
      .where('following', '=', 1)
      .orderBy('user_id')
      .execute();
    return rows.map((r) => r.user_id);
  }
}
