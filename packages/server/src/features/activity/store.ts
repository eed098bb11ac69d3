import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { idempotencyKeys } from '../../storage/idempotency.js';
import { newId } from '../../storage/ids.js';
import { type CursorPosition, decodeCursor, pageOf } from '../../storage/paging.js';
import type { Storage, StoreKind } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { type ActivityBucket, type ActivityInsights, BUCKET_MS, type Counted, everyBucket, type InsightsQuery } from './insights.js';
import { type Activity, type ActivityInput, type ActivityRow, MAX_OBJECTS, toActivity } from './model.js';
import { ftsMatch, searchText, tsQuery, words } from './search.js';
import type { ActivityTables } from './tables.js';

const KEY_SCOPE = 'activity';

export interface RecordRequest {
  tenant: string;
  input: ActivityInput;
  /** Merge into the scope's latest activity when same actor and verb and within this many ms of it (0: never). */
  groupWindow: number;
  /** The key as stored: `api:<key>` or `user:<sub>:<key>`. */
  idempotencyKey?: string | undefined;
}

export interface RecordResult {
  activity: Activity;
  /** Merged into an earlier activity of the same actor and verb (grouping). */
  merged: boolean;
  deduplicated?: true;
}

/** What lists and insights filter by. */
export interface ActivityFilter {
  scope?: string | undefined;
  /** Full-text search (search.ts): every word, the last as a prefix. */
  q?: string | undefined;
  actor?: string | undefined;
  verb?: string | undefined;
  /** From this time on (inclusive), Unix ms. */
  since?: number | undefined;
  /** Before this time (exclusive), Unix ms. */
  until?: number | undefined;
}

export interface ActivityQuery extends ActivityFilter {
  cursor?: string | undefined;
  limit: number;
}

export interface ActivityPage {
  activities: Activity[];
  nextCursor: string | null;
}

type Row = ActivityRow;
type Db = SharedTables & ActivityTables;

/** The columns of an activity (never the search columns). */
const COLUMNS = ['id', 'tenant', 'scope', 'actor', 'verb', 'object', 'target', 'data', 'time', 'last_time', 'count', 'objects', 'created_at'] as const;

const rowText = (row: Row): string =>
  searchText({ ...row, objects: JSON.parse(row.objects) as string[], data: row.data === null ? null : (JSON.parse(row.data) as unknown) });

function canMerge(latest: Row | undefined, input: ActivityInput, time: number, window: number): latest is Row {
  return (
    latest !== undefined && window > 0 && latest.actor === input.actor && latest.verb === input.verb && time >= latest.time && time - latest.time <= window
  );
}

/** Activity feeds in storage: one transaction per record; callers publish what committed. */
export class ActivityStore {
  readonly #db: Kysely<Db>;
  readonly #kind: StoreKind;

  constructor(
    storage: Storage,
    private readonly now: () => number = Date.now,
  ) {
    this.#db = storage.tables<ActivityTables>();
    this.#kind = storage.kind;
  }

  async record(req: RecordRequest): Promise<RecordResult> {
    return this.#db.transaction().execute(async (trx) => {
      const now = this.now();
      const { tenant, input, idempotencyKey: key } = req;
      if (key !== undefined) {
        const claim = await idempotencyKeys.claim<RecordResult, SharedTables & ActivityTables>(trx, tenant, KEY_SCOPE, key, now);
        if (!claim.first) return { ...claim.result, deduplicated: true as const };
      }
      const time = input.time ?? now;
      const latest =
        req.groupWindow > 0
          ? await trx
              .selectFrom('sb_activities')
              .select(COLUMNS)
              .where('tenant', '=', tenant)
              .where('scope', '=', input.scope)
              .orderBy('time', 'desc')
              .orderBy('id', 'desc')
              .limit(1)
              .executeTakeFirst()
          : undefined;
      let row: Row;
      const merged = canMerge(latest, input, time, req.groupWindow);
      if (merged) {
        const objects =
          input.object === undefined
            ? (JSON.parse(latest.objects) as string[])
            : [input.object, ...(JSON.parse(latest.objects) as string[]).filter((o) => o !== input.object)].slice(0, MAX_OBJECTS);
        row = { ...latest, count: latest.count + 1, last_time: Math.max(latest.last_time, time), objects: JSON.stringify(objects) };
        await trx
          .updateTable('sb_activities')
          .set({ count: row.count, last_time: row.last_time, objects: row.objects, search_text: rowText(row) })
          .where('id', '=', row.id)
          .execute();
      } else {
        row = {
          id: newId('a', now),
          tenant,
          scope: input.scope,
          actor: input.actor,
          verb: input.verb,
          object: input.object ?? null,
          target: input.target ?? null,
          data: input.data === undefined ? null : JSON.stringify(input.data),
          time,
          last_time: time,
          count: 1,
          objects: JSON.stringify(input.object === undefined ? [] : [input.object]),
          created_at: now,
        };
        await trx
          .insertInto('sb_activities')
          .values({ ...row, search_text: rowText(row) })
          .execute();
      }
      const result: RecordResult = { activity: toActivity(row), merged };
      if (key !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, key, result);
      return result;
    });
  }

  /**
   * The tenant's activities that pass the filter, or null when `q` has no word (nothing
   * matches). The search words are values of the query, quoted by search.ts, never its syntax.
   */
  #filtered(tenant: string, f: ActivityFilter): SelectQueryBuilder<Db, 'sb_activities', object> | null {
    let query = this.#db.selectFrom('sb_activities').where('tenant', '=', tenant);
    if (f.scope !== undefined) query = query.where('scope', '=', f.scope);
    if (f.actor !== undefined) query = query.where('actor', '=', f.actor);
    if (f.verb !== undefined) query = query.where('verb', '=', f.verb);
    if (f.since !== undefined) query = query.where('time', '>=', f.since);
    if (f.until !== undefined) query = query.where('time', '<', f.until);
    if (f.q === undefined) return query;
    const terms = words(f.q);
    if (terms.length === 0) return null;
    return this.#kind === 'sqlite'
      ? query.where(sql<boolean>`fts_rowid in (select rowid from sb_activities_fts where sb_activities_fts match ${ftsMatch(terms)})`)
      : query.where(sql<boolean>`search_vector @@ ${tsQuery(terms)}::tsquery`);
  }

  /** The tenant's activity rows, for its quota. */
  async countRows(tenant: string): Promise<number> {
    const row = await this.#db.selectFrom('sb_activities').select(sql<number>`count(*)`.as('n')).where('tenant', '=', tenant).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async list(tenant: string, q: ActivityQuery): Promise<ActivityPage> {
    const after: CursorPosition | undefined = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const filtered = this.#filtered(tenant, q);
    if (!filtered) return { activities: [], nextCursor: null };
    let query = filtered.select(COLUMNS);
    if (after) query = query.where((eb) => eb.or([eb('time', '<', after.time), eb.and([eb('time', '=', after.time), eb('id', '<', after.id)])]));
    const rows = await query
      .orderBy('time', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const page = pageOf(rows, q.limit, (r) => ({ time: r.time, id: r.id }));
    return { activities: page.rows.map(toActivity), nextCursor: page.nextCursor };
  }

  /**
   * Activities recorded in [from, to) that pass the filter (`count` of a grouped one counts
   * each activity merged into it, at its first `time`), by verb, by actor (the `top` most
   * active) and per UTC hour or day. Ties are ordered by name, byte-wise on both stores.
   */
  async insights(tenant: string, q: InsightsQuery): Promise<ActivityInsights> {
    const filtered = this.#filtered(tenant, { ...q, since: q.from, until: q.to });
    if (!filtered) return { total: 0, actors: 0, byVerb: [], byActor: [], buckets: everyBucket(q, []) };
    const n = sql<number>`sum(count)`;
    const byName = (column: 'verb' | 'actor') => (this.#kind === 'postgres' ? sql`${sql.ref(column)} collate "C"` : sql.ref(column));
    const [byVerb, byActor, perBucket, totals] = await Promise.all([
      filtered
        .select(['verb as name', n.as('n')])
        .groupBy('verb')
        .orderBy('n', 'desc')
        .orderBy(byName('verb'))
        .execute(),
      filtered
        .select(['actor as name', n.as('n')])
        .groupBy('actor')
        .orderBy('n', 'desc')
        .orderBy(byName('actor'))
        .limit(q.top)
        .execute(),
      filtered
        .select([sql<number>`time - time % ${sql.lit(BUCKET_MS[q.bucket])}`.as('start'), n.as('n')])
        .groupBy(sql`time - time % ${sql.lit(BUCKET_MS[q.bucket])}`)
        .execute(),
      filtered.select([n.as('total'), sql<number>`count(distinct actor)`.as('actors')]).executeTakeFirst(),
    ]);
    const counted = (rows: Array<{ name: string; n: number }>): Counted[] => rows.map((r) => ({ name: r.name, count: Number(r.n) }));
    const buckets: ActivityBucket[] = perBucket.map((r) => ({ start: Number(r.start), count: Number(r.n) }));
    return {
      total: Number(totals?.total ?? 0),
      actors: Number(totals?.actors ?? 0),
      byVerb: counted(byVerb),
      byActor: counted(byActor),
      buckets: everyBucket(q, buckets),
    };
  }

  /** Delete activities that happened more than `days` days ago (0: all before now). */
  async sweep(days: number, idempotencyTtl: number): Promise<{ activities: number; keys: number }> {
    const now = this.now();
    const res = await this.#db
      .deleteFrom('sb_activities')
      .where('time', '<', now - days * 86_400_000)
      .executeTakeFirst();
    const keys = await idempotencyKeys.sweep(this.#db, KEY_SCOPE, now - idempotencyTtl);
    return { activities: Number(res.numDeletedRows), keys };
  }
}
