import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';
import { duration, int } from '../../config/fields.js';
import { alertRuleOrWhen, alertRuleProblems } from './alert-rules.js';
import { DEFAULT_RESOLUTIONS, type ResolutionOptions } from './buckets.js';
import { SYSTEM_PREFIX } from './system-series.js';

/** The resolutions by name, as queries name them, with their default retention. */
export const RESOLUTIONS: Readonly<Record<string, ResolutionOptions>> = Object.freeze({
  '1s': DEFAULT_RESOLUTIONS[0] as ResolutionOptions,
  '10s': DEFAULT_RESOLUTIONS[1] as ResolutionOptions,
  '1m': DEFAULT_RESOLUTIONS[2] as ResolutionOptions,
});
export type ResolutionName = '1s' | '10s' | '1m';

const retentionOf = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a positive duration like "2m", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

export const seriesName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'expected a series name of A-Z a-z 0-9 _ . : - (1 to 128 characters)')
  .refine((name) => !name.startsWith(SYSTEM_PREFIX), `the prefix ${SYSTEM_PREFIX} is reserved for the server's own series`);
const labelKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a label key of A-Z a-z 0-9 _ (1 to 64 characters, not starting with a digit)');

/** One declared series: every tenant has it, with stores of its own. */
export const seriesDeclaration = z.strictObject({
  kind: z.enum(['gauge', 'counter', 'distribution']),
  unit: z.string().max(32).optional(),
  labels: z.array(labelKey).max(16).default([]),
  /** Per resolution, how far back its buckets are kept (a duration, rounded up to whole buckets). */
  retention: z.strictObject({ '1s': retentionOf.optional(), '10s': retentionOf.optional(), '1m': retentionOf.optional() }).default({}),
  /** Keep its 1-minute buckets in the storage layer for `metrics.persistRetention` (see persist.ts). */
  persist: z.boolean().default(false),
});
export type SeriesDeclaration = z.output<typeof seriesDeclaration>;

/** Options of metric streams, at `metrics` in the config (see docs/metrics.md). */
export const metricsConfig = z
  .strictObject({
    series: z
      .record(seriesName, seriesDeclaration)
      .default({})
      .describe(
        'declared series as {name: {kind, unit, labels, retention, persist}} (config file or JSON): kind gauge, counter or distribution; labels the allowed label keys; retention a duration per resolution 1s, 10s or 1m (default 1m, 5m, 15m); persist true keeps the 1-minute buckets in storage. Every tenant has each of them; a tenant may declare more over HTTP; ingest to any other name is refused (default none)',
      ),
    maxSeries: int(1000, 1, 10_000_000, 'series one tenant may hold in memory, each (series, label set) counting once'),
    maxLabelValues: int(100, 1, 1_000_000, 'distinct values of one label key of one series in a tenant'),
    maxLabelValueLength: int(128, 1, 1024, 'longest label value, characters'),
    maxPoints: int(10_000, 1, 1_000_000, 'points in one ingest batch'),
    maxBodyBytes: int(1_048_576, 1024, 64 * 1024 * 1024, 'largest ingest request body, bytes (refused while it is read)'),
    lateness: duration('10s', 'how far a point may lag the newest point of its series and still land in its own past bucket'),
    maxSkew: duration('5s', "how far a point's timestamp may lead the server's clock"),
    ingestRate: int(
      1_000_000,
      1,
      1_000_000_000,
      'points one tenant may ingest per second across the cluster, over HTTP and the socket together (a token bucket holding one second of points, and at least one batch of maxPoints, shared by every node on Redis); beyond it a batch is refused whole with 145, temporary, with a retry delay',
    ),
    persistRetention: duration('30d', 'how long the stored 1-minute buckets of series declared with persist: true are kept'),
    persistSweepInterval: duration(
      '1h',
      'how often stored 1-minute buckets older than persistRetention are deleted (a recurring job, one node of the cluster per run)',
    ),
    maxDeclaredSeries: int(100, 0, 100_000, 'series one tenant may declare over HTTP (PUT /api/v1/metrics/series/{name})'),
    seriesRefresh: duration('30s', 'how often a node reloads the series declared over HTTP (a change is also announced to every node at once)'),
    maxDashboards: int(100, 0, 100_000, 'saved dashboards one tenant may hold'),
    maxDashboardPanels: int(50, 1, 1000, 'panels of one dashboard'),
    maxDashboardBytes: int(65_536, 1024, 1_048_576, 'largest saved dashboard (its JSON), bytes'),
    maxRate: int(10, 1, 1000, 'most frames per second one metric subscription receives; asking for more, or for 0 or less, is clamped and told so'),
    maxSubscriptions: int(16, 1, 10_000, 'metric subscriptions one connection may hold'),
    alerts: z
      .array(alertRuleOrWhen)
      .default([])
      .describe(
        'alert rules as [{name, series, labels, stat, resolution, warning, critical, direction, for, hysteresis, scope, notify: {users, roles}}], or with when: "p95(series{label=value}) > warning for duration" in place of series, labels, stat, direction, warning and for (config file or JSON); see docs/metrics.md "Alerts and health" (default none)',
      ),
    alertRoles: z
      .record(z.string(), z.array(z.string().min(1)))
      .default({})
      .describe('users of each role a rule may notify, as {role: [user, ...]} (config file or JSON; the role everyone needs no entry) (default none)'),
    maxAlertRules: int(100, 0, 10_000, 'alert rules one tenant may declare over HTTP (PUT /metrics/alerts/{name}), besides those of the config'),
    alertInterval: duration('1s', 'how often a node evaluates the alert rules it holds the lease of (0: never by itself)'),
    systemInterval: duration(
      '1s',
      'how often a node writes its own figures into the system scope (connections, messages, latencies, errors, memory…; docs/metrics.md "The server\'s own figures"); 0: never by itself',
    ),
    systemGrantTtl: duration('5m', 'how long a grant to subscribe to the system scope (POST /api/v1/metrics/system/grants, admin key) can open subscriptions'),
    pushInterval: duration(
      '1s',
      'how often a node announces the buckets its ingest changed to the other nodes (Redis engine), whose reads merge them; a point ingested on one node reaches the others within about this long',
    ),
  })
  .superRefine((section, ctx) => {
    for (const p of alertRuleProblems(section)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });
export type MetricsConfig = z.output<typeof metricsConfig>;

/** The resolutions of a declared series, with its retention overrides in whole buckets. */
export function resolutionsOf(decl: SeriesDeclaration): Array<ResolutionOptions & { name: ResolutionName }> {
  return (Object.keys(RESOLUTIONS) as ResolutionName[]).map((name) => {
    const { step, retention } = RESOLUTIONS[name] as ResolutionOptions;
    const override = decl.retention[name];
    return { name, step, retention: override === undefined ? retention : Math.max(1, Math.ceil(override / step)) };
  });
}
