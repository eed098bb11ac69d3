import { RECORD_FIELD_TYPES, RECORD_POLICIES, type RecordFieldType, type RecordPolicy, type RecordSettings } from '@switchboard/protocol';
import { z } from 'zod';
import { duration, int } from '../../config/fields.js';
import { fieldName } from './schemas.js';

/** The limits a namespace's `records` option may set for its records: default, min, max, help. */
const LIMITS = {
  maxFields: [256, 1, 10_000, 'most fields of one record'],
  maxFieldBytes: [16_384, 16, 16 * 1024 * 1024, 'largest value of one field, bytes of JSON'],
  maxRecordBytes: [262_144, 64, 64 * 1024 * 1024, "largest record, bytes of JSON of all its fields' values"],
} as const;
type LimitKey = keyof typeof LIMITS;

function limitFields<T>(make: (def: number, min: number, max: number, help: string) => T): { [K in LimitKey]: T } {
  return Object.fromEntries(Object.entries(LIMITS).map(([k, [def, min, max, help]]) => [k, make(def, min, max, help)])) as { [K in LimitKey]: T };
}

/** Options of records, at `records` in the config (see docs/records.md); a namespace's `records` option may override the limits. */
export const recordsConfig = z.strictObject({
  ...limitFields(int),
  pageSize: int(100, 1, 1000, 'largest page of a record list (GET /records)'),
  idempotencyTtl: duration('24h', 'how long an idempotency key of a record write is remembered'),
  sweepInterval: duration('1h', 'interval of the sweep of expired idempotency keys of record writes (also run at start)'),
});

export type RecordsConfig = z.output<typeof recordsConfig>;

const policy = z.enum(RECORD_POLICIES);
const fieldOptions = z.strictObject({ policy: policy.optional(), type: z.enum(RECORD_FIELD_TYPES).optional() });

/**
 * The namespace option `records`: `true` (records with the `merge` policy and the
 * server-wide limits), an object with the policy, per-field policies and types, and limits
 * (`{ policy: 'manual', fields: { tags: { type: 'set' } } }`), or `false` (the default).
 */
export const recordsNamespaceOption = z
  .union([
    z.boolean(),
    z.strictObject({
      policy: policy.optional(),
      fields: z.record(fieldName, fieldOptions).optional(),
      lockedFields: z
        .boolean()
        .optional()
        .describe("a lock on `field:<name>` of the record channel (the locks feature) guards that field: other users' writes to it are refused (130)"),
      ...limitFields((_def, min, max) => z.number().int().min(min).max(max).optional()),
    }),
  ])
  .default(false);

/** The policy a namespace's records get unless its option names another. */
export const DEFAULT_POLICY: RecordPolicy = 'merge';

/** How one namespace's records behave: policies and types of the fields, and limits. */
export interface RecordRules extends Pick<RecordsConfig, LimitKey> {
  settings: RecordSettings;
  /** Whether locks on `field:<name>` guard the fields. */
  lockedFields: boolean;
  policyOf(field: string): RecordPolicy;
  typeOf(field: string): RecordFieldType;
}

/** The rules of a namespace whose `records` option is `option` (null: records are off there). */
export function recordRules(config: RecordsConfig, option: unknown): RecordRules | null {
  if (option !== true && (typeof option !== 'object' || option === null)) return null;
  const given = (option === true ? {} : option) as z.output<typeof recordsNamespaceOption> & object;
  const fields = new Map(Object.entries(given.fields ?? {}));
  const settings: RecordSettings = { policy: given.policy ?? DEFAULT_POLICY, fields: Object.fromEntries(fields) };
  return {
    maxFields: given.maxFields ?? config.maxFields,
    maxFieldBytes: given.maxFieldBytes ?? config.maxFieldBytes,
    maxRecordBytes: given.maxRecordBytes ?? config.maxRecordBytes,
    settings,
    lockedFields: given.lockedFields === true,
    policyOf: (field) => fields.get(field)?.policy ?? settings.policy,
    typeOf: (field) => fields.get(field)?.type ?? 'value',
  };
}
