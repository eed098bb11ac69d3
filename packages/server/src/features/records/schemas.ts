import { ErrorCode, RECORD_FIELD_TYPES, RECORD_POLICIES, type RecordChange } from '@switchboard/protocol';
import { z } from 'zod';
import { ReplyError } from '../../errors/reply-error.js';

/** Nesting allowed in a field value (an object of scalars is 1). */
export const MAX_VALUE_DEPTH = 32;
/** Keys that would reach an object's prototype if a value were ever merged into a plain object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const allowedKey = (k: string) => !FORBIDDEN_KEYS.has(k);

export const channelName = z.string().min(1).max(1024);
/** A field name: 1–128 characters, no control characters, not `__proto__`, `constructor` or `prototype`. */
export const fieldName = z
  .string()
  .min(1)
  .max(128)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the rule refuses
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters')
  .refine(allowedKey, 'not a field name');
/** A key of an object value changed by `patch`. */
const objectKey = z.string().min(1).max(256).refine(allowedKey, 'not an object key');
export const idempotencyKey = z.string().min(1).max(128);
/** The SDK's writer session (kept across reconnects): its own earlier writes never count as concurrent. */
export const session = z.string().min(1).max(64);
export const baseVersion = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe('the record version the write was made on');

const hasValue = (c: { value?: unknown }) => c.value !== undefined;
const change = z.discriminatedUnion('op', [
  z.strictObject({ field: fieldName, op: z.literal('set'), value: z.unknown() }).refine(hasValue, { message: 'value is required', path: ['value'] }),
  z
    .strictObject({
      field: fieldName,
      op: z.literal('patch'),
      set: z.record(objectKey, z.unknown()).optional(),
      unset: z.array(objectKey).max(10_000).optional(),
    })
    .refine((c) => c.set !== undefined || c.unset !== undefined, { message: 'give set or unset' }),
  z.strictObject({ field: fieldName, op: z.enum(['add', 'remove']), items: z.array(z.unknown()).min(1).max(10_000) }),
  z.strictObject({ field: fieldName, op: z.literal('increment'), by: z.number().finite() }),
]);
export const changes = z.array(change).min(1).max(10_000);

/** A write's changes as the edge accepts them (typed like the protocol's RecordChange). */
export const writeParams = {
  base: baseVersion,
  changes: changes as unknown as z.ZodType<RecordChange[]>,
  fencing: z
    .record(fieldName, z.number().int().min(1).max(Number.MAX_SAFE_INTEGER))
    .optional()
    .describe('field → the fencing token of the lock on `field:<name>` the writer holds: the write is refused (131) unless it is still the current grant'),
};

/**
 * Refuse what zod cannot see in a value: `__proto__` (and `constructor`, `prototype`) keys at
 * any depth, and nesting beyond MAX_VALUE_DEPTH (107).
 */
export function checkValue(value: unknown, where: string, depth = 0): void {
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_VALUE_DEPTH) throw new ReplyError(ErrorCode.BadRequest, `${where}: nested deeper than ${MAX_VALUE_DEPTH}`);
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item, where, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (!allowedKey(key)) throw new ReplyError(ErrorCode.BadRequest, `${where}: the key "${key}" is not allowed`);
    checkValue((value as Record<string, unknown>)[key], where, depth + 1);
  }
}

/** Check every value a write carries, and that it changes each field once (107). */
export function checkChanges(list: readonly RecordChange[]): void {
  const seen = new Set<string>();
  for (const c of list) {
    if (seen.has(c.field)) throw new ReplyError(ErrorCode.BadRequest, `changes: the field "${c.field}" is changed twice`);
    seen.add(c.field);
    const where = `changes.${c.field}`;
    if (c.op === 'set') checkValue(c.value, where);
    else if (c.op === 'patch') checkValue(c.set ?? {}, where);
    else if (c.op === 'add' || c.op === 'remove') checkValue(c.items, where);
  }
}

/** JSON schemas of the HTTP API's answers. */
const recordField = z.object({ value: z.unknown(), version: z.number().int(), author: z.string(), updatedAt: z.number().int() });
const settings = z.object({
  policy: z.enum(RECORD_POLICIES),
  fields: z.record(z.string(), z.object({ policy: z.enum(RECORD_POLICIES).optional(), type: z.enum(RECORD_FIELD_TYPES).optional() })),
});
export const recordState = z.object({
  channel: z.string(),
  version: z.number().int().describe('gap-free: every applied write adds one; 0 for a record never written'),
  fields: z.record(z.string(), recordField),
  settings,
});
const replaced = z.object({ field: z.string(), key: z.string().optional(), author: z.string(), session: z.string().optional(), version: z.number().int() });
export const writeResult = z.object({
  version: z.number().int(),
  fields: z.record(z.string(), recordField),
  replaced: z.array(replaced),
  deduplicated: z.literal(true).optional(),
});
export const recordPage = z.object({
  records: z.array(z.object({ channel: z.string(), version: z.number().int(), updatedAt: z.number().int() })),
  nextCursor: z.string().nullable(),
});
