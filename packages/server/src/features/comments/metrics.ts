import { Counter, type Registry } from 'prom-client';

/** What a comment write did, the `op` label of the writes counter. */
export type CommentOp = 'thread' | 'reply' | 'edit' | 'delete' | 'resolve' | 'reopen' | 'metadata' | 'thread_delete';

/** Metrics of comment threads, registered in the node's registry (served at /metrics). */
export function commentMetrics(registry: Registry) {
  const writes = new Counter({
    name: 'switchboard_comment_writes_total',
    help: 'Committed comment writes by operation (thread, reply, edit, delete, resolve, reopen, metadata, thread_delete)',
    labelNames: ['op'],
    registers: [registry],
  });
  const reactions = new Counter({
    name: 'switchboard_comment_reaction_writes_total',
    help: 'Reaction requests by outcome: changed (a row added or removed) or unchanged (already so)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const receipts = new Counter({
    name: 'switchboard_comment_receipt_writes_total',
    help: 'Read-receipt requests by outcome: moved (forward) or unchanged (not past the stored one)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  return {
    write(op: CommentOp): void {
      writes.inc({ op });
    },
    reaction(changed: boolean): void {
      reactions.inc({ outcome: changed ? 'changed' : 'unchanged' });
    },
    receipt(moved: boolean): void {
      receipts.inc({ outcome: moved ? 'moved' : 'unchanged' });
    },
  };
}
export type CommentMetrics = ReturnType<typeof commentMetrics>;
