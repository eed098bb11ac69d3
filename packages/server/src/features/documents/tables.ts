/** Row types of the documents tables (conventions: storage/tables.ts). */

/** One stored document: its compacted state; the updates since are in `sb_document_updates`. */
export interface DocumentTable {
  tenant: string;
  /** The channel name (`doc:form-42`). */
  channel: string;
  /** Bytes of its snapshot (in `sb_document_snapshots`). */
  snapshot_bytes: number;
  /** Updates in the log and their bytes (what the next compaction folds in). */
  log_count: number;
  log_bytes: number;
  /** JSON array: the users whose changes were stored since the last version. */
  authors: string;
  created_at: number;
  updated_at: number;
  /** The last sequence number given to one of its updates. */
  seq: number;
  /** The last sequence number folded into the snapshot. */
  snapshot_seq: number;
  /** The fencing token of the last compaction's lease. */
  compact_fence: number;
}

/** A document's compacted state: one Yjs update (no row: empty), rewritten only by a compaction. */
export interface DocumentSnapshotTable {
  tenant: string;
  channel: string;
  snapshot: Buffer;
}

/** One update in a document's durable log: unique by id, in order of its `seq`. */
export interface DocumentUpdateTable {
  tenant: string;
  channel: string;
  id: string;
  data: Buffer;
  created_at: number;
  /** Its number in the document's log (1, 2, …; 0 for rows logged before numbers were given). */
  seq: number;
}

/** A named version: the whole state of a document at one moment, as one Yjs update. */
export interface DocumentVersionTable {
  tenant: string;
  channel: string;
  /** Time-ordered (`v_…`). */
  id: string;
  label: string | null;
  created_by: string | null;
  /** JSON array: the users whose changes went in since the version before. */
  authors: string;
  created_at: number;
  bytes: number;
  snapshot: Buffer;
}

export interface DocumentTables {
  sb_documents: DocumentTable;
  sb_document_snapshots: DocumentSnapshotTable;
  sb_document_updates: DocumentUpdateTable;
  sb_document_versions: DocumentVersionTable;
}
