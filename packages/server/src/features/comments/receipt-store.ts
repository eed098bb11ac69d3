import type { ReadReceipt } from '@switchboard/protocol';
import { type CommentDb, notFound } from './comment-db.js';

/** How far a user has read a thread. */
export type Receipt = ReadReceipt;

const toReceipt = (r: { user_id: string; comment_id: string; seq: number; read_at: number }): Receipt => ({
  userId: r.user_id,
  commentId: r.comment_id,
  seq: Number(r.seq),
  readAt: Number(r.read_at),
});

/** Read receipts in storage: one row per (thread, user), moved forward only. */
export class ReceiptStore {
  constructor(
    private readonly db: CommentDb,
    private readonly now: () => number,
  ) {}

  /**
   * Move a user's receipt in a thread forward to a comment of that thread (117 for a comment
   * of another thread). One upsert that changes the row only for a higher `seq`, so a receipt
   * never moves back, also when two requests race. Answers the receipt as stored.
   */
  async markRead(tenant: string, threadId: string, commentId: string, userId: string): Promise<{ receipt: Receipt; changed: boolean }> {
    return this.db.transaction().execute(async (trx) => {
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
  async list(tenant: string, threadId: string, userId?: string): Promise<Receipt[]> {
    let q = this.db.selectFrom('sb_comment_receipts').selectAll().where('tenant', '=', tenant).where('thread_id', '=', threadId);
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('user_id').execute()).map(toReceipt);
  }
}
