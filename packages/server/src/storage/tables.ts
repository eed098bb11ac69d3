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

/** Tables every feature may use, created by the shared migrations. */
export interface SharedTables {
  sb_users: UserTable;
  sb_idempotency_keys: IdempotencyTable;
  sb_tenant_quotas: TenantQuotaTable;
}
