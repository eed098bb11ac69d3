import type { Kysely, Selectable } from 'kysely';
import { idempotencyKeys } from '../../storage/idempotency.js';
import { newId } from '../../storage/ids.js';
import { type CursorPosition, decodeCursor, pageOf } from '../../storage/paging.js';
import type { Storage } from '../../storage/storage.js';
import type { SharedTables } from '../../storage/tables.js';
import { type Activity, type ActivityInput, MAX_OBJECTS, toActivity } from './model.js';
import type { ActivityTable, ActivityTables } from './tables.js';

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

export interface ActivityQuery {
  scope?: string | undefined;
  actor?: string | undefined;
  verb?: string | undefined;
  /** From this time on (inclusive), Unix ms. */
  since?: number | undefined;
  /** Before this time (exclusive), Unix ms. */
  until?: number | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface ActivityPage {
  activities: Activity[];
  nextCursor: string | null;
}

type Row = Selectable<ActivityTable>;

function canMerge(latest: Row | undefined, input: ActivityInput, time: number, window: number): latest is Row {
  return (
    latest !== undefined && window > 0 && latest.actor === input.actor && latest.verb === input.verb && time >= latest.time && time - latest.time <= window
  );
}

/** Activity feeds in storage: one transaction per record; callers publish what committed. */
export class ActivityStore {
  readonly #db: Kysely<SharedTables & ActivityTables>;

  constructor(
    storage: Storage,
    private readonly now: () => number = Date.now,
  ) {
    this.#db = storage.tables<ActivityTables>();
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
              .selectAll()
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
        await trx.updateTable('sb_activities').set({ count: row.count, last_time: row.last_time, objects: row.objects }).where('id', '=', row.id).execute();
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
        await trx.insertInto('sb_activities').values(row).execute();
      }
      const result: RecordResult = { activity: toActivity(row), merged };
      if (key !== undefined) await idempotencyKeys.complete(trx, tenant, KEY_SCOPE, key, result);
      return result;
    });
  }

  async list(tenant: string, q: ActivityQuery): Promise<ActivityPage> {
    const after: CursorPosition | undefined = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    let query = this.#db.selectFrom('sb_activities').selectAll().where('tenant', '=', tenant);
    if (q.scope !== undefined) query = query.where('scope', '=', q.scope);
    if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
    if (q.verb !== undefined) query = query.where('verb', '=', q.verb);
    if (q.since !== undefined) query = query.where('time', '>=', q.since);
    if (q.until !== undefined) query = query.where('time', '<', q.until);
    if (after) query = query.where((eb) => eb.or([eb('time', '<', after.time), eb.and([eb('time', '=', after.time), eb('id', '<', after.id)])]));
    const rows = await query
      .orderBy('time', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const page = pageOf(rows, q.limit, (r) => ({ time: r.time, id: r.id }));
    return { activities: page.rows.map(toActivity), nextCursor: page.nextCursor };
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
