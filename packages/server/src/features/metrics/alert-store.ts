import type { Kysely, Migration } from 'kysely';
import type { NamedMigration } from '../../storage/migration.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { type AlertLevel, type AlertState, type AlertTransition, INITIAL_ALERT_STATE } from './alert-machine.js';

/** One rule's state in one tenant (conventions: storage/tables.ts). */
export interface AlertStateTable {
  tenant: string;
  rule: string;
  state: string;
  since: number | null;
  value: number | null;
  evaluated_at: number | null;
  warning_since: number | null;
  critical_since: number | null;
  seq: number;
  /** Bumped by every write: the compare-and-set that keeps two evaluators from both writing. */
  version: number;
  /** JSON of the latest transition while its activity and notification are not yet written, else null. */
  pending: string | null;
  updated_at: number;
}

/** A rule a tenant declared over HTTP (config rules are not stored). */
export interface AlertRuleTable {
  tenant: string;
  name: string;
  /** JSON of the rule as validated (durations in ms). */
  rule: string;
  updated_at: number;
}

export interface AlertTables {
  sb_metric_alerts: AlertStateTable;
  sb_metric_alert_rules: AlertRuleTable;
}

type Db = Kysely<SharedTables & AlertTables>;

const alertStates: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('sb_metric_alerts')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('rule', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('since', 'bigint')
      .addColumn('value', 'double precision')
      .addColumn('evaluated_at', 'bigint')
      .addColumn('warning_since', 'bigint')
      .addColumn('critical_since', 'bigint')
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('pending', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_metric_alerts_pk', ['tenant', 'rule'])
      .execute();
    await db.schema
      .createTable('sb_metric_alert_rules')
      .addColumn('tenant', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('rule', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('sb_metric_alert_rules_pk', ['tenant', 'name'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('sb_metric_alert_rules').execute();
    await db.schema.dropTable('sb_metric_alerts').execute();
  },
};

export const ALERT_MIGRATIONS: readonly NamedMigration[] = [{ name: 'metrics_alerts_0001_tables', ...alertStates }];

/** A rule's stored state: the machine's state, the row version, and a transition still to be announced. */
export interface StoredAlert {
  state: AlertState;
  version: number;
  pending: AlertTransition | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

/**
 * The state of every (tenant, rule), so a restart or another node's takeover continues where
 * the last evaluation stopped. Every write is a compare-and-set on `version`: of two nodes that
 * read the same row, one writes and the other is told it lost (and reads again), so a
 * transition is stored once. A stored transition stays `pending` until its activity and
 * notification are written (with idempotency keys), so a crash in between repeats the writes,
 * which the keys make harmless, and never the transition.
 */
export class AlertStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(storage: Storage, now: () => number) {
    this.#db = storage.tables<AlertTables>();
    this.#now = now;
  }

  /** The stored state of a rule in a tenant; the initial state (version 0) when none is stored. */
  async get(tenant: string, rule: string): Promise<StoredAlert> {
    const row = await this.#db.selectFrom('sb_metric_alerts').selectAll().where('tenant', '=', tenant).where('rule', '=', rule).executeTakeFirst();
    return row ? stored(row) : { state: { ...INITIAL_ALERT_STATE }, version: 0, pending: null };
  }

  /** The stored states of a tenant's rules, by rule name. */
  async list(tenant: string): Promise<Map<string, StoredAlert>> {
    const rows = await this.#db.selectFrom('sb_metric_alerts').selectAll().where('tenant', '=', tenant).execute();
    return new Map(rows.map((r) => [r.rule, stored(r)]));
  }

  /** Write `next` over the row read at `version`; false when another writer changed it first. */
  async put(tenant: string, rule: string, version: number, next: AlertState, pending: AlertTransition | null): Promise<boolean> {
    const values = {
      state: next.state,
      since: next.since,
      value: next.value,
      evaluated_at: next.evaluatedAt,
      warning_since: next.warningSince,
      critical_since: next.criticalSince,
      seq: next.seq,
      version: version + 1,
      pending: pending === null ? null : JSON.stringify(pending),
      updated_at: this.#now(),
    };
    if (version === 0) {
      const res = await this.#db
        .insertInto('sb_metric_alerts')
        .values({ tenant, rule, ...values })
        .onConflict((oc) => oc.columns(['tenant', 'rule']).doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    }
    const res = await this.#db
      .updateTable('sb_metric_alerts')
      .set(values)
      .where('tenant', '=', tenant)
      .where('rule', '=', rule)
      .where('version', '=', version)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Clear the pending transition `seq` once announced (whoever announced it); a no-op if it is gone. */
  async announced(tenant: string, rule: string, seq: number): Promise<void> {
    await this.#db
      .updateTable('sb_metric_alerts')
      .set((eb) => ({ pending: null, version: eb('version', '+', 1) }))
      .where('tenant', '=', tenant)
      .where('rule', '=', rule)
      .where('seq', '=', seq)
      .where('pending', 'is not', null)
      .execute();
  }
}

function stored(r: AlertStateTable): StoredAlert {
  return {
    state: {
      state: r.state as AlertLevel,
      since: num(r.since),
      value: r.value === null ? null : Number(r.value),
      evaluatedAt: num(r.evaluated_at),
      warningSince: num(r.warning_since),
      criticalSince: num(r.critical_since),
      seq: Number(r.seq),
    },
    version: Number(r.version),
    pending: r.pending === null ? null : (JSON.parse(r.pending) as AlertTransition),
  };
}
