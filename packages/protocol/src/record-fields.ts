/**
 * Records on the wire (the `records` feature, docs/records.md): plain-value fields of a
 * channel, each with the record version that last wrote it, the writes that change them,
 * and the push every subscriber of the channel receives after a write committed.
 */

/** How a field takes a write made on a stale base: last writer wins, merge, or refuse. */
export const RECORD_POLICIES = ['lww', 'merge', 'manual'] as const;
export type RecordPolicy = (typeof RECORD_POLICIES)[number];

/** What a field holds: any JSON value, a set of distinct values (add / remove), or a number changed by deltas. */
export const RECORD_FIELD_TYPES = ['value', 'set', 'counter'] as const;
export type RecordFieldType = (typeof RECORD_FIELD_TYPES)[number];

/** One field as stored. */
export interface RecordField<V = unknown> {
  value: V;
  /** The record version of the write that last changed it. */
  version: number;
  /** The user whose write it was. */
  author: string;
  /** Unix ms of that write. */
  updatedAt: number;
}

/** The policy and type of the fields of a record: the namespace's default and its per-field overrides. */
export interface RecordSettings {
  policy: RecordPolicy;
  fields: Record<string, { policy?: RecordPolicy; type?: RecordFieldType }>;
}

/** A record as `records.read`, the subscribe snapshot (`state.records`) and `GET …/record` give it. */
export interface RecordState {
  channel: string;
  /** Gap-free: every applied write adds exactly one; 0 for a record never written. */
  version: number;
  fields: Record<string, RecordField>;
  settings: RecordSettings;
}

/**
 * One change of a write: replace a value (`set`), set and unset keys of an object value
 * (`patch`, merged key by key), add or remove items of a set field, add a delta to a counter.
 */
export type RecordChange =
  | { field: string; op: 'set'; value: unknown }
  | { field: string; op: 'patch'; set?: Record<string, unknown>; unset?: string[] }
  | { field: string; op: 'add' | 'remove'; items: unknown[] }
  | { field: string; op: 'increment'; by: number };

/**
 * A value of another writer that a `lww` write replaced although its writer had not seen it
 * (it landed after the write's base): that writer is told by an `overwritten` event.
 */
export interface RecordReplaced {
  field: string;
  /** The key of an object value, for a `patch`. */
  key?: string;
  /** The replaced value's author, and the SDK session that wrote it (absent for the HTTP API). */
  author: string;
  session?: string;
  version: number;
}

/** What a write answers: the record version it made and the fields it changed, as stored. */
export interface RecordWriteResult {
  version: number;
  fields: Record<string, RecordField>;
  replaced: RecordReplaced[];
  /** The idempotency key was seen: nothing new was written, this is the first write's answer. */
  deduplicated?: true;
}

/** The push on a record's channel after a write committed. */
export interface RecordPush {
  kind: 'record';
  version: number;
  author: string;
  session?: string;
  /** The changed fields as stored after the write (whole values, so applying one twice or late is harmless). */
  fields: Record<string, RecordField>;
  replaced: RecordReplaced[];
}

/** One refused field of a write (`data.conflicts` of error 134): what it holds now. */
export interface RecordConflictField {
  field: string;
  key?: string;
  value: unknown;
  version: number;
  author: string;
}

/** `data` of error 134 RecordConflict. */
export interface RecordConflictData {
  /** The record's version now. */
  version: number;
  conflicts: RecordConflictField[];
}
