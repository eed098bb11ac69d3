import { ErrorCode, type RecordChange, type RecordConflictField, type RecordReplaced } from '@switchboard/protocol';
import { ReplyError } from '../../errors/reply-error.js';
import type { RecordRules } from './config.js';

/**
 * The conflict policies as one pure function: given a record's stored fields and a write
 * made on a base version, what the write changes, whose values it replaces unseen (`lww`),
 * or which fields refuse it (`manual`, and `merge` on a scalar changed by both). No I/O:
 * the store runs it inside the transaction that holds the record's row.
 */

/** Who wrote something: the user, and the SDK session (null for the HTTP API). */
export interface Writer {
  author: string;
  session: string | null;
}

/** Which write last set a key of an object value (kept for keys unset since, too). */
export interface KeyMark extends Writer {
  version: number;
}

/** One field as the store holds it. */
export interface StoredField extends KeyMark {
  value: unknown;
  updatedAt: number;
  /** Per key of an object value: which write last set or unset it. */
  keys: Record<string, KeyMark> | null;
}

export interface WriteInput {
  base: number;
  changes: readonly RecordChange[];
  writer: Writer;
}

export type Outcome = { ok: true; fields: Map<string, StoredField>; replaced: RecordReplaced[] } | { ok: false; conflicts: RecordConflictField[] };

/** A plain object value (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The same writer: one SDK session (its own writes are never concurrent with each other), or the same user over HTTP. */
function sameWriter(mark: Writer, writer: Writer): boolean {
  return writer.session !== null ? mark.session === writer.session : mark.session === null && mark.author === writer.author;
}

/** Whether another writer changed this since the write's base: the write did not see it. */
function unseen(mark: KeyMark | undefined, input: WriteInput): mark is KeyMark {
  return mark !== undefined && mark.version > input.base && !sameWriter(mark, input.writer);
}

const itemKey = (v: unknown) => JSON.stringify(v);

/** Distinct items, first occurrence kept (set fields compare items by their JSON text). */
function distinct(items: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = itemKey(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** 107 for an operation the field's type does not take, or a value of the wrong type. */
function checkType(rules: RecordRules, c: RecordChange): void {
  const type = rules.typeOf(c.field);
  const bad = (why: string) => new ReplyError(ErrorCode.BadRequest, `changes.${c.field}: ${why}`);
  if (c.op === 'increment' && type !== 'counter') throw bad(`increment needs a counter field (this one is a ${type})`);
  if ((c.op === 'add' || c.op === 'remove') && type !== 'set') throw bad(`${c.op} needs a set field (this one is a ${type})`);
  if (c.op === 'patch' && type !== 'value') throw bad(`patch needs a value field (this one is a ${type})`);
  if (c.op !== 'set') return;
  if (type === 'counter' && (typeof c.value !== 'number' || !Number.isFinite(c.value))) throw bad('a counter holds a number');
  if (type === 'set' && !Array.isArray(c.value)) throw bad('a set holds an array');
}

/** The field's value after the change (the checks passed). */
function nextValue(c: RecordChange, current: StoredField | undefined, mark: KeyMark): { value: unknown; keys: Record<string, KeyMark> | null } {
  const old = current?.value;
  switch (c.op) {
    case 'set': {
      const value = c.value;
      return { value, keys: isObject(value) ? Object.fromEntries(Object.keys(value).map((k) => [k, mark])) : null };
    }
    case 'patch': {
      const value: Record<string, unknown> = isObject(old) ? { ...old } : {};
      const keys: Record<string, KeyMark> = { ...(isObject(old) ? (current?.keys ?? {}) : {}) };
      for (const [k, v] of Object.entries(c.set ?? {})) {
        value[k] = v;
        keys[k] = mark;
      }
      for (const k of c.unset ?? []) {
        delete value[k];
        keys[k] = mark;
      }
      return { value, keys: pruneTombstones(value, keys) };
    }
    case 'add':
      return { value: distinct([...(Array.isArray(old) ? old : []), ...c.items]), keys: null };
    case 'remove': {
      const gone = new Set(c.items.map(itemKey));
      return { value: (Array.isArray(old) ? old : []).filter((item) => !gone.has(itemKey(item))), keys: null };
    }
    case 'increment': {
      const value = (typeof old === 'number' ? old : 0) + c.by;
      if (!Number.isFinite(value)) throw new ReplyError(ErrorCode.BadRequest, `changes.${c.field}: the counter would leave the number range`);
      return { value, keys: null };
    }
  }
}

/** Marks of unset keys kept per object value: the newest, so a patch of a key unset recently still conflicts. */
export const MAX_TOMBSTONES = 64;

/** Drop the oldest marks of keys no longer in the value beyond MAX_TOMBSTONES (what a stored field may grow by). */
function pruneTombstones(value: Record<string, unknown>, keys: Record<string, KeyMark>): Record<string, KeyMark> {
  const gone = Object.keys(keys).filter((k) => !Object.hasOwn(value, k));
  if (gone.length <= MAX_TOMBSTONES) return keys;
  gone.sort((a, b) => (keys[a] as KeyMark).version - (keys[b] as KeyMark).version);
  for (const k of gone.slice(0, gone.length - MAX_TOMBSTONES)) delete keys[k];
  return keys;
}

/** Keys a patch touches. */
const touched = (c: RecordChange & { op: 'patch' }) => [...Object.keys(c.set ?? {}), ...(c.unset ?? [])];

const conflictOf = (field: string, f: StoredField, key?: string): RecordConflictField => ({
  field,
  ...(key !== undefined ? { key } : {}),
  value: key !== undefined && isObject(f.value) ? (f.value[key] ?? null) : f.value,
  version: key !== undefined ? (f.keys?.[key]?.version ?? f.version) : f.version,
  author: key !== undefined ? (f.keys?.[key]?.author ?? f.author) : f.author,
});

const replacedOf = (field: string, m: KeyMark, key?: string): RecordReplaced => ({
  field,
  ...(key !== undefined ? { key } : {}),
  author: m.author,
  ...(m.session !== null ? { session: m.session } : {}),
  version: m.version,
});

/** Whether a merge-policy change commutes with what landed since its base (so it applies as is). */
function mergeConflicts(c: RecordChange, f: StoredField, input: WriteInput): RecordConflictField[] {
  if (c.op === 'add' || c.op === 'remove' || c.op === 'increment') return [];
  if (c.op === 'patch' && isObject(f.value)) return touched(c).flatMap((k) => (unseen(f.keys?.[k], input) ? [conflictOf(c.field, f, k)] : []));
  return unseen(f, input) ? [conflictOf(c.field, f)] : [];
}

/** The values of other writers a `lww` change replaces although its base did not include them. */
function lwwReplaced(c: RecordChange, f: StoredField, input: WriteInput): RecordReplaced[] {
  if (c.op === 'add' || c.op === 'remove' || c.op === 'increment') return [];
  if (c.op === 'patch' && isObject(f.value))
    return touched(c).flatMap((k) => (unseen(f.keys?.[k], input) ? [replacedOf(c.field, f.keys?.[k] as KeyMark, k)] : []));
  return unseen(f, input) ? [replacedOf(c.field, f)] : [];
}

/**
 * Decide a write against the stored fields; `version` is the one it gets if it applies.
 * All or nothing: one refused field refuses the write. Throws 107 for a change the field's
 * type does not take.
 */
export function decide(stored: ReadonlyMap<string, StoredField>, input: WriteInput, rules: RecordRules, version: number, now: number): Outcome {
  const conflicts: RecordConflictField[] = [];
  const replaced: RecordReplaced[] = [];
  for (const c of input.changes) {
    checkType(rules, c);
    const f = stored.get(c.field);
    if (!f) continue;
    const policy = rules.policyOf(c.field);
    if (policy === 'manual') {
      if (unseen(f, input)) conflicts.push(conflictOf(c.field, f));
    } else if (policy === 'merge') conflicts.push(...mergeConflicts(c, f, input));
    else replaced.push(...lwwReplaced(c, f, input));
  }
  if (conflicts.length > 0) return { ok: false, conflicts };
  const mark: KeyMark = { version, author: input.writer.author, session: input.writer.session };
  const fields = new Map<string, StoredField>();
  for (const c of input.changes) {
    const { value, keys } = nextValue(c, stored.get(c.field), mark);
    fields.set(c.field, { ...mark, value: c.op === 'set' && rules.typeOf(c.field) === 'set' ? distinct(value as unknown[]) : value, keys, updatedAt: now });
  }
  return { ok: true, fields, replaced };
}
