import { ErrorCode } from '@switchboard/protocol';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { STATS, type Stat } from './buckets.js';
import { type MetricsConfig, RESOLUTIONS, seriesName } from './config.js';
import type { MetricTables } from './tables.js';

type Db = Kysely<SharedTables & MetricTables>;

/** The namespace whose channel `dashboard:{id}` carries a dashboard's saves and its viewers' presence. */
export const DASHBOARD_NAMESPACE = 'dashboard';

export const dashboardId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a dashboard id of A-Z a-z 0-9 _ . - (1 to 64 characters)');

const windowLength = z
  .string()
  .regex(/^\d{1,6}(s|m|h|d)$/, 'expected a window like "30s", "5m", "6h" or "30d"')
  .describe('how far back the panel shows, e.g. "5m"');

/** One panel: a metric query (what `GET /metrics/query` and a subscription take). */
export const dashboardPanel = z.strictObject({
  title: z.string().max(200).optional(),
  series: seriesName,
  labels: z.record(z.string().max(64), z.string().max(1024)).optional().describe('the label set (default none)'),
  resolution: z.enum(Object.keys(RESOLUTIONS) as ['1s', '10s', '1m']).default('1s'),
  window: windowLength.default('5m'),
  stats: z
    .array(z.enum(STATS as [Stat, ...Stat[]]))
    .max(STATS.length)
    .optional()
    .describe('statistics to show (default all of the kind)'),
});

/** A dashboard as it is saved: a title and panels. */
export const dashboardBody = z.strictObject({
  title: z.string().min(1).max(200),
  panels: z.array(dashboardPanel).describe('at most metrics.maxDashboardPanels'),
});
export type DashboardBody = z.output<typeof dashboardBody>;

export interface Dashboard extends DashboardBody {
  id: string;
  /** 1 when created, +1 at each save. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** What a save or a deletion publishes on `dashboard:{id}`. */
export type DashboardChange = { kind: 'dashboard.saved'; dashboard: Dashboard } | { kind: 'dashboard.deleted'; id: string };

/**
 * Saved dashboards, per tenant (`sb_metric_dashboards`): a save is stored, then published on
 * the tenant's channel `dashboard:{id}`, so its viewers (subscribers, with their presence)
 * see it at once. Sizes are capped: panels (`maxDashboardPanels`) and bytes of the JSON
 * (`maxDashboardBytes`), 157; dashboards per tenant (`maxDashboards`), 106.
 */
export class Dashboards {
  readonly #db: Db;
  readonly #node: NodeContext;
  readonly #config: () => MetricsConfig;

  constructor(storage: Storage, node: NodeContext, config: () => MetricsConfig) {
    this.#db = storage.tables<MetricTables>();
    this.#node = node;
    this.#config = config;
  }

  async list(tenant: string): Promise<Dashboard[]> {
    const rows = await this.#db.selectFrom('sb_metric_dashboards').selectAll().where('tenant', '=', tenant).orderBy('id').execute();
    return rows.map(dashboardOf);
  }

  async get(tenant: string, id: string): Promise<Dashboard> {
    const row = await this.#db.selectFrom('sb_metric_dashboards').selectAll().where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    if (!row) throw unknown(id);
    return dashboardOf(row);
  }

  /** Create or replace a dashboard, then publish it; `created` on its first save. */
  async save(tenant: string, id: string, body: DashboardBody): Promise<{ dashboard: Dashboard; created: boolean }> {
    const cfg = this.#config();
    if (body.panels.length > cfg.maxDashboardPanels)
      throw new ReplyError(ErrorCode.DashboardTooLarge, `${body.panels.length} panels; at most ${cfg.maxDashboardPanels}`);
    const text = JSON.stringify(body);
    const bytes = Buffer.byteLength(text);
    if (bytes > cfg.maxDashboardBytes) throw new ReplyError(ErrorCode.DashboardTooLarge, `${bytes} bytes; at most ${cfg.maxDashboardBytes}`);
    const now = this.#node.now();
    const { row, created } = await this.#db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('sb_metric_dashboards')
        .select(['version', 'created_at'])
        .where('tenant', '=', tenant)
        .where('id', '=', id)
        .executeTakeFirst();
      if (before) {
        const version = Number(before.version) + 1;
        await trx
          .updateTable('sb_metric_dashboards')
          .set({ dashboard: text, version, updated_at: now })
          .where('tenant', '=', tenant)
          .where('id', '=', id)
          .execute();
        return { row: { tenant, id, dashboard: text, version, created_at: Number(before.created_at), updated_at: now }, created: false };
      }
      const held = await trx
        .selectFrom('sb_metric_dashboards')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant', '=', tenant)
        .executeTakeFirst();
      if (Number(held?.n ?? 0) >= cfg.maxDashboards) throw new ReplyError(ErrorCode.LimitExceeded, `the tenant holds ${cfg.maxDashboards} dashboards`);
      const inserted = { tenant, id, dashboard: text, version: 1, created_at: now, updated_at: now };
      await trx.insertInto('sb_metric_dashboards').values(inserted).execute();
      return { row: inserted, created: true };
    });
    const dashboard = dashboardOf(row);
    await this.#publish(tenant, id, { kind: 'dashboard.saved', dashboard });
    return { dashboard, created };
  }

  /** Delete a dashboard, then publish that it is gone. */
  async remove(tenant: string, id: string): Promise<void> {
    const result = await this.#db.deleteFrom('sb_metric_dashboards').where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw unknown(id);
    await this.#publish(tenant, id, { kind: 'dashboard.deleted', id });
  }

  /** Publish on `dashboard:{id}`; without a `dashboard` namespace (a configuration that lists its own), dashboards are stored only. */
  async #publish(tenant: string, id: string, change: DashboardChange): Promise<void> {
    if (!this.#node.config.namespaces[DASHBOARD_NAMESPACE]) return;
    await this.#node.publish(this.#node.resolve(tenant, `${DASHBOARD_NAMESPACE}:${id}`), JSON.stringify(change));
  }
}

const unknown = (id: string) => new ReplyError(ErrorCode.UnknownDashboard, `no dashboard ${id}`);

function dashboardOf(row: { id: string; dashboard: string; version: number; created_at: number; updated_at: number }): Dashboard {
  const body = JSON.parse(row.dashboard) as DashboardBody;
  return {
    id: row.id,
    title: body.title,
    panels: body.panels,
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
