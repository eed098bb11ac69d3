/** Row types of the records tables (conventions: storage/tables.ts). */

/** One record: its gap-free version, the row every write of it locks. */
export interface RecordTable {
  tenant: string;
  channel: string;
  version: number;
  /** Its fields, and the bytes of JSON of their values: the limits are checked without reading every field. */
  field_count: number;
  bytes: number;
  updated_at: number;
}

/** One field of a record. */
export interface RecordFieldTable {
  tenant: string;
  channel: string;
  field: string;
  /** JSON text. */
  value: string;
  /** The record version of the write that last changed it. */
  version: number;
  author: string;
  /** The SDK session of that write; null for the HTTP API. */
  session: string | null;
  /** JSON text: per key of an object value, the write that last set or unset it; null otherwise. */
  key_marks: string | null;
  updated_at: number;
}

export interface RecordTables {
  sb_records: RecordTable;
  sb_record_fields: RecordFieldTable;
}
