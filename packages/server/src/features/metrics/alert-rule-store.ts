import type { Kysely } from 'kysely';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import type { AlertRule } from './alert-rules.js';
import type { AlertTables } from './alert-store.js';

type Db = Kysely<SharedTables & AlertTables>;

/**
 * The alert rules tenants declare over HTTP, each in its tenant only (the rules of the
 * configuration belong to every tenant and are not stored). Every node reads them at each
 * evaluation, so a rule put through one node is evaluated by whichever node holds its lease.
 */
export class AlertRuleStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(storage: Storage, now: () => number) {
    this.#db = storage.tables<AlertTables>();
    this.#now = now;
  }

  /** Store a tenant's rule, replacing the one of the same name; true when it is new. */
  async put(tenant: string, rule: AlertRule): Promise<boolean> {
    const values = { rule: JSON.stringify(rule), updated_at: this.#now() };
    const updated = await this.#db
      .updateTable('sb_metric_alert_rules')
      .set(values)
      .where('tenant', '=', tenant)
      .where('name', '=', rule.name)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return false;
    await this.#db
      .insertInto('sb_metric_alert_rules')
      .values({ tenant, name: rule.name, ...values })
      .onConflict((oc) => oc.columns(['tenant', 'name']).doUpdateSet(values))
      .execute();
    return true;
  }

  /** Delete a tenant's rule and its state; false when it has no rule of that name. */
  async delete(tenant: string, name: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('sb_metric_alert_rules').where('tenant', '=', tenant).where('name', '=', name).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await trx.deleteFrom('sb_metric_alerts').where('tenant', '=', tenant).where('rule', '=', name).execute();
      return true;
    });
  }

  /** A tenant's rules, by name. */
  async list(tenant: string): Promise<AlertRule[]> {
    const rows = await this.#db.selectFrom('sb_metric_alert_rules').select('rule').where('tenant', '=', tenant).orderBy('name').execute();
    return rows.map((r) => JSON.parse(r.rule) as AlertRule);
  }

  async count(tenant: string): Promise<number> {
    const row = await this.#db
      .selectFrom('sb_metric_alert_rules')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant', '=', tenant)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Every tenant's rules, by tenant (what an evaluation runs over). */
  async all(): Promise<Map<string, AlertRule[]>> {
    const rows = await this.#db.selectFrom('sb_metric_alert_rules').select(['tenant', 'rule']).orderBy('tenant').orderBy('name').execute();
    const out = new Map<string, AlertRule[]>();
    for (const r of rows) out.set(r.tenant, [...(out.get(r.tenant) ?? []), JSON.parse(r.rule) as AlertRule]);
    return out;
  }
}
