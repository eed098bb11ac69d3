import type { Logger } from 'pino';
import { toThreadInfo } from './model.js';
import type { CommentStore } from './store.js';
import { type Mentions, notifyMissedDeadline } from './thread-notifications.js';

/** Threads reported per round of a check. */
const BATCH = 100;

/**
 * The `respondBy` deadlines of threads: at each check (at a node's start, then a recurring job
 * of the job runner every `comments.deadlineInterval`, run by one node at a time), each thread whose
 * deadline passed with no reply by another user (and not resolved) gets its one `alert`,
 * then is marked. The state is in the database, so a restart in between changes nothing,
 * and the alert's idempotency key makes a check that overlaps another create nothing new.
 */
export class DeadlineWatch {
  #running: Promise<number> | null = null;

  constructor(
    private readonly store: CommentStore,
    private readonly inbox: Mentions,
    private readonly logger: Logger,
  ) {}

  /** Report every missed deadline now; resolves with how many were reported (one check at a time). */
  check(): Promise<number> {
    this.#running ??= this.#check()
      .catch((err) => {
        this.logger.warn({ err }, 'checking comment deadlines failed (retried at the next check)');
        return 0;
      })
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  async #check(): Promise<number> {
    let reported = 0;
    for (;;) {
      const due = await this.store.missedDeadlines(BATCH);
      for (const row of due) {
        await notifyMissedDeadline(this.inbox, row.tenant, toThreadInfo(row));
        await this.store.deadlineReported(row.id);
        reported++;
      }
      if (due.length < BATCH) return reported;
    }
  }
}
