import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute, validate } from '../../http/api/route.js';
import { queryInt } from '../../http/api/schemas.js';
import { STATS, type Stat } from './buckets.js';
import { type MetricsConfig, RESOLUTIONS } from './config.js';
import type { Ingest } from './ingest.js';
import { known, type StoredMetrics } from './known-series.js';
import { type ColumnBlock, codeOfRefusal, type MetricStores, NO_LABELS, type PointInput } from './metric-stores.js';
import { readPersisted } from './persisted-query.js';
import { SYSTEM_SCOPE } from './system-series.js';

export type { StoredMetrics } from './known-series.js';

/**
 * A label set. JSON.parse keeps a `__proto__` key as an own key, which a zod record drops
 * silently (the point would land in another label set): such a set is refused (107).
 */
const labels = z.preprocess((v, ctx) => {
  if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__')) ctx.addIssue({ code: 'custom', message: 'a label key is not __proto__', input: v });
  return v;
}, z.record(z.string(), z.string()).describe('label values by key; only the keys declared for the series'));
const value = z.unknown().describe('a finite number (anything else is refused with 135)');
const ts = z.unknown().describe("integer ms since the epoch (default: the server's clock)");
/** One point in the row form, as `POST /metrics/points` and the socket's `metrics.push` take it. */
export const pointRow = z.strictObject({ series: z.string(), labels: labels.optional(), ts: ts.optional(), value: value.optional() });
/** One columnar block: a series' label set and its values (and their timestamps), as the HTTP ingest and the socket's `metrics.push` take it. */
export const columnBlock = z.strictObject({
  series: z.string(),
  labels: labels.optional(),
  ts: z.array(ts).optional().describe("one timestamp per value (default: every value at the server's clock)"),
  values: z.array(value),
});
const ingestBody = z.strictObject({
  points: z.array(pointRow).optional().describe('row form: one object per point'),
  ...columnBlock.partial().shape,
  blocks: z.array(columnBlock).optional().describe('several columnar blocks'),
});

const columns = z.object({
  series: z.string(),
  kind: z.enum(['gauge', 'counter', 'distribution']),
  unit: z.string().optional(),
  labels: z.record(z.string(), z.string()),
  resolution: z.string(),
  start: z.number().int().describe('start of the first bucket, ms since the epoch; bucket i starts at start + i·step'),
  step: z.number().int().describe('bucket width, ms'),
  truncated: z.boolean().describe('the window began before the retention and was clipped to it'),
  count: z.array(z.number().int()),
  stats: z.record(z.string(), z.array(z.number().nullable())).describe('one array per statistic, null for an empty bucket'),
});

/** Rows as points: the parsed objects themselves, a row without labels given the shared empty set. */
export function rowsOf(rows: Array<z.output<typeof pointRow>>): PointInput[] {
  for (const row of rows) row.labels ??= NO_LABELS;
  return rows as PointInput[];
}

/**
 * The blocks of a body in the columnar form (one block) or the blocks form, or undefined for
 * the row form; refused (400) unless exactly one of the three is given.
 */
function blocksOf(body: z.output<typeof ingestBody>): ColumnBlock[] | undefined {
  const { points, blocks, ...single } = body;
  const columnar = Object.values(single).some((v) => v !== undefined) ? single : undefined;
  const forms = [points, blocks, columnar].filter((f) => f !== undefined).length;
  if (forms !== 1) throw new ReplyError(ErrorCode.BadRequest, 'give exactly one of points, series with values, or blocks');
  if (points) return undefined;
  return (blocks ?? [validate(columnBlock, single, 'body') as z.output<typeof columnBlock>]).map(columnsOf);
}

/** A block's columns, its labels defaulted; refused (400) when ts and values differ in length. */
export function columnsOf(b: z.output<typeof columnBlock>): ColumnBlock {
  if (b.ts !== undefined && b.ts.length !== b.values.length)
    throw new ReplyError(ErrorCode.BadRequest, `ts has ${b.ts.length} entries and values ${b.values.length}`);
  return { series: b.series, labels: b.labels ?? NO_LABELS, ts: b.ts, values: b.values };
}

const BODY_KEYS: ReadonlySet<string> = new Set(['series', 'labels', 'ts', 'values']);

/** Whether a label set is what the `labels` schema takes as it is: a plain object of strings, no own `__proto__`. */
function plainLabels(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.hasOwn(v, '__proto__')) return false;
  for (const k in v) if (typeof (v as Record<string, unknown>)[k] !== 'string') return false;
  return true;
}

/**
 * The rows of a `{points: [...]}` body when every row is what `pointRow` takes as it is (an
 * object of `series`, a string, and optional `labels`, `ts` and `value`, nothing else), in one
 * loop and without a copy of each row: the schema's pass builds two objects per row. Values
 * and timestamps are checked with the points. Undefined when any row is not, for the schema's answer.
 */
function plainRows(o: Record<string, unknown>): Array<z.output<typeof pointRow>> | undefined {
  const rows = o.points;
  if (!Array.isArray(rows)) return undefined;
  for (const k in o) if (k !== 'points') return undefined;
  for (const row of rows) {
    if (row === null || typeof row !== 'object' || Array.isArray(row) || typeof row.series !== 'string') return undefined;
    for (const k in row) {
      if (k === 'labels') {
        if (!plainLabels(row.labels)) return undefined;
      } else if (k !== 'series' && k !== 'ts' && k !== 'value') return undefined;
    }
  }
  return rows as Array<z.output<typeof pointRow>>;
}

/**
 * The body as `ingestBody` validates it, a columnar body (one series, arrays of timestamps and
 * values) without a pass over its arrays: their elements are checked with the points (any
 * value is valid to the schema), so only the keys, their types and the labels need checking;
 * a row body (`points`) checked row by row in one loop (`plainRows`). Anything else, or
 * anything wrong, is validated by the schema, for its answer.
 */
function parseIngestBody(value: unknown): z.output<typeof ingestBody> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const rows = plainRows(o);
    if (rows !== undefined) return { points: rows };
    let plain = typeof o.series === 'string' && Array.isArray(o.values) && (o.ts === undefined || Array.isArray(o.ts));
    for (const k in o) if (!BODY_KEYS.has(k)) plain = false;
    const set = plain && o.labels !== undefined ? labels.safeParse(o.labels) : undefined;
    if (plain && (set === undefined || set.success)) {
      return { series: o.series as string, labels: set?.data, ts: o.ts as unknown[] | undefined, values: o.values as unknown[] };
    }
  }
  return validate(ingestBody, value, 'body') as z.output<typeof ingestBody>;
}

function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function labelsOf(text: string | undefined): Record<string, string> {
  if (text === undefined) return {};
  const parsed = labels.safeParse(parsedJson(text));
  if (!parsed.success) throw new ReplyError(ErrorCode.BadRequest, 'labels: expected a JSON object of string values');
  return parsed.data;
}

/** The system scope's tenant key for a request the auth hook let through with `scope=system` (an admin key: tenant ''). */
export function systemScope(keyTenant: string): string {
  if (keyTenant !== '') throw new ReplyError(ErrorCode.PermissionDenied, 'scope=system needs an admin key');
  return SYSTEM_SCOPE;
}

/** Ingest (`POST /metrics/points`) and query (`GET /metrics/query`) of the declared series. */
export function metricRoutes(stores: () => MetricStores, ingest: () => Ingest, config: MetricsConfig, stored?: () => StoredMetrics): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/metrics/points',
      operationId: 'ingestMetricPoints',
      tag: 'metrics',
      summary: 'Add points to declared series, in rows or columns; all or nothing',
      description: `Row form \`{points: [{series, labels, ts, value}]}\`, columnar form \`{series, labels, ts: [...], values: [...]}\`, or \`{blocks: [...]}\`, a list of columnar blocks; at most ${config.maxPoints} points and ${config.maxBodyBytes} bytes (413 while the body is read). The batch is checked whole before anything is written: one refused point refuses it, with the first problem's code and \`data.problems\`, the first 100 problems as {index, code, reason} (index counts points in batch order). Beyond the tenant's ingest budget (\`metrics.ingestRate\` points/s) the batch is refused whole with 429 / 145 and Retry-After.`,
      body: ingestBody,
      parseBody: parseIngestBody,
      bodyLimit: config.maxBodyBytes,
      response: z.object({ accepted: z.number().int() }),
      errors: [413, 422, 429, 503],
      async handler({ tenant, body }) {
        const blocks = blocksOf(body);
        return { accepted: await (blocks ? ingest().pushBlocks(tenant, blocks, 'http') : ingest().push(tenant, rowsOf(body.points ?? []), 'http')) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics/query',
      operationId: 'queryMetrics',
      tag: 'metrics',
      summary: 'The buckets of one label set of a series over a window, in columns',
      description:
        "Buckets of [from, to) at one resolution (`1s`, `10s`, `1m`), from memory: a window reaching before the retention is clipped and says `truncated: true`. With `scope=system` and an admin key (no tenant header), the server's own figures (`sb.*` series, docs/metrics.md). The `1m` buckets of a series declared with `persist` come from memory inside its retention and from storage beyond it, back to `metrics.persistRetention`, in the same shape. A label set the tenant holds no points for reads as empty buckets (count 0, statistics null).",
      systemScope: true,
      query: z.strictObject({
        scope: z
          .enum(['system'])
          .optional()
          .describe("system: the server's own figures (sb.* series), with an admin key and no tenant header; default the tenant's series"),
        series: z.string().describe('a declared series'),
        labels: z.string().optional().describe('the label set, as a JSON object, e.g. {"route":"/login"} (default: no labels)'),
        from: queryInt('window start, ms since the epoch (default: the retention)').optional(),
        to: queryInt("window end, ms since the epoch (default: the server's clock)").optional(),
        resolution: z
          .string()
          .optional()
          .describe(`one of ${Object.keys(RESOLUTIONS).join(', ')} (default 1s)`),
        stats: z
          .string()
          .optional()
          .describe(`statistics, comma separated, from ${STATS.join(', ')} (rate for counters only; default all of the kind)`),
      }),
      response: columns,
      errors: [422, 503],
      async handler({ node, tenant: keyTenant, query }) {
        const s = stores();
        const tenant = query.scope === 'system' ? systemScope(keyTenant) : keyTenant;
        if (tenant !== SYSTEM_SCOPE) await known(s, stored, tenant, [query.series]);
        const decl = s.declaration(query.series, tenant);
        if (!decl) throw new ReplyError(ErrorCode.UnknownSeries, `no series ${query.series}`);
        const resolution = query.resolution ?? '1s';
        const retention = s.retention(query.series, resolution, tenant);
        if (retention === undefined)
          throw new ReplyError(ErrorCode.UnknownResolution, `no resolution ${resolution}; one of ${Object.keys(RESOLUTIONS).join(', ')}`);
        const to = query.to ?? node.now() + 1;
        const from = query.from ?? Math.max(0, to - retention);
        if (from > to) throw new ReplyError(ErrorCode.InvalidRange, 'from is after to');
        const stats = query.stats?.split(',').map((x) => x.trim()) as Stat[] | undefined;
        const set = labelsOf(query.labels);
        const persisted = decl.persist && resolution === '1m' && stored && tenant !== SYSTEM_SCOPE ? stored().persisted : undefined;
        const read = persisted
          ? await readPersisted(s, persisted, {
              tenant,
              series: query.series,
              decl,
              labels: set,
              from,
              to,
              stats,
              now: node.now(),
              retention: config.persistRetention,
              maxSkew: config.maxSkew,
            })
          : s.read(tenant, query.series, set, resolution, from, to, stats);
        if (!read) throw new ReplyError(ErrorCode.UnknownSeries, `no series ${query.series}`);
        if (!read.ok) throw new ReplyError(codeOfRefusal(read), read.message);
        return {
          series: query.series,
          kind: decl.kind,
          ...(decl.unit !== undefined ? { unit: decl.unit } : {}),
          labels: set,
          resolution,
          start: read.start,
          step: read.step,
          truncated: read.truncated,
          count: read.count,
          stats: read.stats as Record<string, Array<number | null>>,
        };
      },
    }),
  ];
}
