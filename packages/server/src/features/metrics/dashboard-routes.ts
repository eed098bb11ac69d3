import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import type { MetricsConfig } from './config.js';
import { type Dashboard, type Dashboards, dashboardBody, dashboardId } from './dashboards.js';

const dashboardParams = z.strictObject({ id: dashboardId });
const panelOut = z.object({
  title: z.string().optional(),
  series: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
  resolution: z.string(),
  window: z.string(),
  stats: z.array(z.string()).optional(),
});
const dashboardOut = z.object({
  id: z.string(),
  title: z.string(),
  panels: z.array(panelOut),
  version: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

/** Saved dashboards, per tenant: list, read, save (published to its viewers), delete. */
export function dashboardRoutes(dashboards: () => Dashboards, config: MetricsConfig): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/metrics/dashboards',
      operationId: 'listMetricDashboards',
      tag: 'metrics',
      summary: "The tenant's saved dashboards",
      response: z.object({ dashboards: z.array(dashboardOut) }),
      errors: [503],
      async handler({ tenant }) {
        return { dashboards: await dashboards().list(tenant) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics/dashboards/:id',
      operationId: 'getMetricDashboard',
      tag: 'metrics',
      summary: 'One saved dashboard',
      params: dashboardParams,
      response: dashboardOut,
      errors: [404, 503],
      async handler({ tenant, params }): Promise<Dashboard> {
        return dashboards().get(tenant, params.id);
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/metrics/dashboards/:id',
      operationId: 'putMetricDashboard',
      tag: 'metrics',
      summary: 'Save a dashboard (a title and panels, each a metric query); its viewers get it at once',
      description: `Stored, then published on the tenant's channel \`dashboard:{id}\` as \`{kind: "dashboard.saved", dashboard}\`. At most ${config.maxDashboardPanels} panels and ${config.maxDashboardBytes} bytes of JSON (422 / 157), ${config.maxDashboards} dashboards per tenant (422 / 106).`,
      params: dashboardParams,
      body: dashboardBody,
      bodyLimit: config.maxDashboardBytes * 4,
      response: dashboardOut,
      errors: [413, 422, 503],
      async handler({ tenant, params, body }) {
        return (await dashboards().save(tenant, params.id, body)).dashboard;
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/metrics/dashboards/:id',
      operationId: 'deleteMetricDashboard',
      tag: 'metrics',
      summary: 'Delete a dashboard; its viewers are told on `dashboard:{id}`',
      params: dashboardParams,
      response: z.object({ deleted: z.literal(true) }),
      errors: [404, 503],
      async handler({ tenant, params }) {
        await dashboards().remove(tenant, params.id);
        return { deleted: true as const };
      },
    }),
  ];
}
