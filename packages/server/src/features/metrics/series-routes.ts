import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { type MetricsConfig, seriesDeclaration, seriesName } from './config.js';
import type { MetricStores } from './metric-stores.js';
import { systemScope } from './routes.js';
import type { SeriesRegistry } from './series-registry.js';
import { SYSTEM_SCOPE, SYSTEM_SERIES } from './system-series.js';

const declarationOut = z
  .object({
    kind: z.enum(['gauge', 'counter', 'distribution']),
    unit: z.string().optional(),
    labels: z.array(z.string()),
    retention: z.record(z.string(), z.number()).describe('per resolution, ms'),
    persist: z.boolean(),
  })
  .describe('the declaration, normalised: defaults filled in, retention in ms');
const seriesOut = z.object({
  name: z.string(),
  source: z.enum(['config', 'api', 'system']).describe("config: declared in the configuration, read-only over HTTP; system: the server's own (scope=system)"),
  declaration: declarationOut,
  labelSets: z
    .array(z.record(z.string(), z.string()))
    .optional()
    .describe('scope=system: the label sets that hold points, on this node and announced by the others'),
  createdAt: z.number().int().optional(),
  updatedAt: z.number().int().optional(),
});
type SeriesOut = z.output<typeof seriesOut>;

const nameParams = z.strictObject({ name: seriesName });
const configured = (name: string, decl: z.output<typeof seriesDeclaration>): SeriesOut => ({ name, source: 'config', declaration: normalised(decl) });
const normalised = (decl: z.output<typeof seriesDeclaration>): z.output<typeof declarationOut> => ({
  kind: decl.kind,
  ...(decl.unit !== undefined ? { unit: decl.unit } : {}),
  labels: decl.labels,
  retention: Object.fromEntries(Object.entries(decl.retention).filter(([, v]) => v !== undefined)) as Record<string, number>,
  persist: decl.persist,
});

/** Series declared over HTTP, per tenant; the configuration's are listed too, read-only; with `scope=system` the server's own. */
export function seriesRoutes(registry: () => SeriesRegistry, config: MetricsConfig, stores: () => MetricStores): ApiRoute[] {
  const fromConfig = Object.entries(config.series).map(([name, decl]) => configured(name, decl));
  return [
    defineRoute({
      method: 'GET',
      url: '/metrics/series',
      operationId: 'listMetricSeries',
      tag: 'metrics',
      summary: "The series a tenant may ingest into: the configuration's and its own (scope=system: the server's own)",
      description:
        'With `scope=system` and an admin key (no tenant header): the server\'s own series (`sb.*`, docs/metrics.md "The server\'s own figures"), each with the label sets that hold points (`labelSets`).',
      systemScope: true,
      query: z.strictObject({
        scope: z.enum(['system']).optional().describe("system: the server's own series, with an admin key and no tenant header"),
      }),
      response: z.object({ series: z.array(seriesOut) }),
      errors: [503],
      async handler({ tenant, query }) {
        if (query.scope === 'system') {
          systemScope(tenant);
          const held = stores();
          return {
            series: Object.entries(SYSTEM_SERIES).map(([name, decl]) => ({
              name,
              source: 'system' as const,
              declaration: normalised(decl),
              labelSets: held.labelSets(SYSTEM_SCOPE, name),
            })),
          };
        }
        const own = await registry().list(tenant);
        const mine = own
          .filter((s) => !config.series[s.name])
          .map((s) => ({ ...s, source: 'api' as const, declaration: normalised(seriesDeclaration.parse(s.declaration)) }));
        return { series: [...fromConfig, ...mine].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics/series/:name',
      operationId: 'getMetricSeries',
      tag: 'metrics',
      summary: 'One series: declared in the configuration or by the tenant',
      params: nameParams,
      response: seriesOut,
      errors: [404, 503],
      async handler({ tenant, params }) {
        const decl = config.series[params.name];
        if (decl) return configured(params.name, decl);
        const own = await registry().get(tenant, params.name);
        if (!own) throw new ReplyError(ErrorCode.NotFound, `no series ${params.name}`);
        return { ...own, source: 'api' as const, declaration: normalised(seriesDeclaration.parse(own.declaration)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/metrics/series/:name',
      operationId: 'putMetricSeries',
      tag: 'metrics',
      summary: 'Declare a series for the tenant, or change its unit, labels, retention or persist',
      description: `The body is a declaration as in the configuration. 409 / 153 for a series the configuration declares; 409 / 154 for another kind than the series has (delete it first); 422 / 155 beyond ${config.maxDeclaredSeries} series. A change reaches every node at once; label sets held in memory keep the retention they were made with.`,
      params: nameParams,
      body: seriesDeclaration,
      response: seriesOut,
      errors: [409, 422, 503],
      async handler({ tenant, params, body }) {
        if (config.series[params.name]) throw new ReplyError(ErrorCode.SeriesReadOnly, `${params.name} is declared in the configuration`);
        const { series } = await registry().put(tenant, params.name, body);
        return { ...series, source: 'api' as const, declaration: normalised(seriesDeclaration.parse(series.declaration)) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/metrics/series/:name',
      operationId: 'deleteMetricSeries',
      tag: 'metrics',
      summary: "Delete a tenant's series, its buckets on every node and its stored minutes",
      params: nameParams,
      response: z.object({ deleted: z.literal(true) }),
      errors: [404, 409, 503],
      async handler({ tenant, params }) {
        if (config.series[params.name]) throw new ReplyError(ErrorCode.SeriesReadOnly, `${params.name} is declared in the configuration`);
        if (!(await registry().remove(tenant, params.name))) throw new ReplyError(ErrorCode.NotFound, `no series ${params.name}`);
        return { deleted: true as const };
      },
    }),
  ];
}
