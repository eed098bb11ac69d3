/** Row types of the activity table (conventions: storage/tables.ts). */

export interface ActivityTable {
  id: string;
  tenant: string;
  scope: string;
  actor: string;
  verb: string;
  object: string | null;
  target: string | null;
  /** JSON text. */
  data: string | null;
  /** When it happened (given by the recorder, or the time it was recorded). */
  time: number;
  /** Latest time merged into a grouped activity (equals `time` when never merged). */
  last_time: number;
  /** Activities merged into this one (1 when never merged). */
  count: number;
  /** JSON text: the objects of merged activities, most recent first (capped). */
  objects: string;
  created_at: number;
  /** The activity's words for full-text search (search.ts). SQLite adds `fts_rowid`, PostgreSQL `search_vector`. */
  search_text: string;
}

export interface ActivityTables {
  sb_activities: ActivityTable;
}
