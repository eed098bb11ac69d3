/**
 * Row types of the shared durable tables, as the query builder sees them; a feature declares
 * its own tables beside its migrations (features/<name>/tables.ts), the same way. Times are Unix
 * milliseconds (`bigint` columns, read back as numbers on both stores); JSON values are
 * stored as text; flags are integers 0/1, so SQLite and PostgreSQL read the same rows.
 */

/** Users known to a tenant: seen on a connection, or given a notification or preferences. */
export interface UserTable {
  tenant: string;
  user_id: string;
  first_seen: number;
  last_seen: number;
}

/** Idempotency keys of create requests: a retried request returns the stored result. */
export interface IdempotencyTable {
  tenant: string;
  scope: string;
  key: string;
  /** JSON text of the first request's result; null while that request is in its transaction. */
  result: string | null;
  created_at: number;
}

/** Quotas set over the HTTP API, per tenant: they win over the config file's, key by key. */
export interface TenantQuotaTable {
  tenant: string;
  /** JSON text of the stored quotas (only the keys set). */
  quotas: string;
  updated_at: number;
}

/** Where a job is: waiting for its due time, claimed by a runner, or finished one way or another. */
export type JobStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

/** Jobs of the job runner (storage/job-runner.ts): due time, attempts, the lease of the runner that claimed it. */
export interface JobTable {
  id: string;
  /** The handler that runs it: `publish` (the kernel's scheduled publications) or `<feature>.<kind>`. */
  kind: string;
  /** The tenant it acts for ('' for none), so lists and caps stay inside a tenant. */
  tenant: string;
  /** JSON text given to the handler. */
  payload: string;
  status: JobStatus;
  /** Unix ms at which it may run (next attempt's, after a failure). */
  due_at: number;
  /** Attempts started so far; the fence of a claim (a runner writes only while it still matches). */
  attempts: number;
  max_attempts: number;
  /** The runner holding it while running; null otherwise. */
  lease_owner: string | null;
  /** Unix ms when the lease ends unless renewed; another runner may then claim it again. */
  lease_expires: number | null;
  last_error: string | null;
  /** JSON text of the handler's result, once done. */
  result: string | null;
  created_at: number;
  updated_at: number;
  /**
   * The queue a job belongs to within its kind (a webhook endpoint's deliveries), null for
   * none: its pending jobs are found along (queue, status, due_at) however many others there are.
   */
  queue: string | null;
}

/** Tables every feature may use, created by the shared migrations. */
export interface SharedTables {
  sb_users: UserTable;
  sb_idempotency_keys: IdempotencyTable;
  sb_tenant_quotas: TenantQuotaTable;
  sb_jobs: JobTable;
}
