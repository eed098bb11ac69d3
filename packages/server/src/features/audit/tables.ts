/** Row types of the audit table (conventions: storage/tables.ts). */
export interface AuditEntryTable {
  id: string;
  /** '' for the system scope (nothing verified names a tenant). */
  tenant: string;
  type: string;
  /** Unix ms: the start of the minute window the entry aggregates (an admin action: when it happened). */
  at: number;
  user_id: string | null;
  ip: string | null;
  count: number;
  first_at: number;
  last_at: number;
  /** JSON text, at most MAX_DETAIL_BYTES. */
  detail: string;
}

export interface AuditTables {
  sb_audit_entries: AuditEntryTable;
}
