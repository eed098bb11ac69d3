/** Row types of the locks table (conventions: storage/tables.ts). */

/** One held lock: the index of who holds what per channel; the engine's lease is the truth. */
export interface LockTable {
  tenant: string;
  channel: string;
  lock_key: string;
  token: number;
  user_id: string;
  /** The holding connection, its session (kept across reconnects) and node; null for a backend lease. */
  client_id: string | null;
  session: string | null;
  node: string | null;
  /** JSON text. */
  attributes: string | null;
  acquired_at: number;
  /** Unix ms; null while a connection holds it. */
  expires_at: number | null;
}

export interface LockTables {
  sb_locks: LockTable;
}
