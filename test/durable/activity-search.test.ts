import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activity as A } from '../../packages/client/src/activity.js';
import { eventually } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { type DurableServer, expectApiError, reply, STORES, startDurableServer } from './helpers.js';

/**
 * Activity search (`q`) and insights over the real HTTP API and WebSocket, on SQLite (FTS5)
 * and PostgreSQL (tsvector): one hand-written corpus, the same expected answers on both
 * stores, other scopes and tenants as canaries, hostile queries, retention and grouping.
 */

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The search corpus in scope project:s1, oldest first (c1 … c6), one minute apart. */
const SEARCH_BASE = Date.parse('2024-01-15T00:00:00Z');
const CORPUS: Array<Record<string, unknown>> = [
  { actor: 'ann', verb: 'commented', object: 'task:1', data: { text: 'Café au lait, s’il vous plaît!' } },
  { actor: 'bob', verb: 'created', object: 'task:2', data: { title: 'CAFE menu', tags: ['Drinks', 'Brunch'] } },
  { actor: 'ann', verb: 'edited', object: 'doc:12', target: 'board:3', data: { title: 'Über-Plan: phase (2)' } },
  { actor: 'carol', verb: 'commented', object: 'task:10', data: { text: 'uber plan looks good; ship it?', n: 42, secretkey: { x: 1 } } },
  { actor: 'dave', verb: 'moved', object: 'card:7', target: 'column:done', data: { note: 'NEAR the end OR not; "quoted" & (parens) | pipe ! bang' } },
  { actor: 'bob', verb: 'deleted', object: 'task:1', data: { text: "O'Brien's naïve RÉSUMÉ" } },
];

/** Query → the corpus entries found, newest first. */
const SEARCHES: Array<[string, string[]]> = [
  ['cafe', ['c2', 'c1']],
  ['café', ['c2', 'c1']],
  ['CAFÉ AU', ['c1']],
  ['caf', ['c2', 'c1']],
  ['cafe menu', ['c2']],
  ['uber plan', ['c4', 'c3']],
  ['plan uber', ['c4', 'c3']],
  ['über-plan', ['c4', 'c3']],
  ['task', ['c6', 'c4', 'c2', 'c1']],
  ['task 1', ['c6', 'c4', 'c1']],
  ['task:1', ['c6', 'c4', 'c1']],
  ['"task 1"', ['c6', 'c4', 'c1']],
  ['task 10', ['c4']],
  ['doc:12', ['c3']],
  ['comment', ['c4', 'c1']],
  ['commented', ['c4', 'c1']],
  ['commented ann', ['c1']],
  ['ann', ['c3', 'c1']],
  ['board', ['c3']],
  ['column done', ['c5']],
  ['drinks', ['c2']],
  ['naive resume', ['c6']],
  ['NAÏVE', ['c6']],
  ['brien', ['c6']],
  ['obrien', []],
  ['ship it', ['c4']],
  ['secretkey', []], // keys of data are not text
  ['42', []], // nor are numbers
  ['canary', []], // other scopes and tenants
  ['zzz', []],
];

/** Hostile input: syntax of FTS5, tsquery and SQL is only ever words. */
const HOSTILE: Array<[string, string[]]> = [
  ['"', []],
  ['*', []],
  ['cafe*', ['c2', 'c1']],
  ['"cafe', ['c2', 'c1']],
  ['NEAR', ['c5']],
  ['NEAR(cafe task, 2)', []],
  ['cafe OR task', []],
  ['cafe AND', []],
  ['NOT cafe', []],
  ['cafe:', ['c2', 'c1']],
  ['text:cafe', []],
  ['search_text:cafe', []],
  ['cafe & menu', ['c2']],
  ['cafe | zzz', []],
  ['!cafe', ['c2', 'c1']],
  ['(cafe)', ['c2', 'c1']],
  ['-cafe', ['c2', 'c1']],
  ['^cafe', ['c2', 'c1']],
  ['cafe:*', ['c2', 'c1']],
  ["' OR 1=1 --", []],
  ["'); drop table sb_activities; --", []],
  ["cafe''", ['c2', 'c1']],
  ['\\', []],
  ['%', []],
  ['_', []],
  ['🔥', []],
  ['', []],
  ['   ', []],
];

describe.each(STORES)('activity search and insights on %s', (store) => {
  let s: DurableServer;
  const ids = new Map<string, string>();
  const label = (id: string) => [...ids].find(([, v]) => v === id)?.[0] ?? id;
  const record = async (body: Record<string, unknown>, key?: string) => {
    const res = await s.api('POST', '/activities', { body: { scope: 'project:s1', ...body }, ...(key ? { key } : {}) });
    expect(res.status, res.text).toBe(201);
    return (res.body['activity'] as A).id;
  };
  const search = async (params: string, key?: string): Promise<{ found: string[]; nextCursor: string | null }> => {
    const res = await s.api('GET', `/activities?${params}`, key ? { key } : {});
    expect(res.status, res.text).toBe(200);
    const page = res.body as { activities: A[]; nextCursor: string | null };
    return { found: page.activities.map((a) => label(a.id)), nextCursor: page.nextCursor };
  };
  const inScope = async (q: string) => (await search(`scope=project:s1&q=${encodeURIComponent(q)}`)).found;

  beforeAll(async () => {
    s = await startDurableServer(store);
    for (const [i, a] of CORPUS.entries()) ids.set(`c${i + 1}`, await record({ ...a, time: SEARCH_BASE + i * MIN }));
    ids.set('scope-canary', await record({ scope: 'project:s2', actor: 'ann', verb: 'commented', data: { text: 'café canary' }, time: SEARCH_BASE - MIN }));
    ids.set('tenant-canary', await record({ actor: 'ann', verb: 'commented', data: { text: 'café canary' }, time: SEARCH_BASE }, s.tenantKeys['other']));
  });
  afterAll(async () => {
    await s?.stop();
  });

  it.each(SEARCHES)('q=%j finds %j', async (q, expected) => {
    expect(await inScope(q)).toEqual(expected);
  });

  it.each(HOSTILE)('hostile q=%j answers 200 with %j', async (q, expected) => {
    expect(await inScope(q)).toEqual(expected);
  });

  it('q combines with the other filters and pages with cursors', async () => {
    expect((await search('scope=project:s1&q=task&actor=bob')).found).toEqual(['c6', 'c2']);
    expect((await search('scope=project:s1&q=cafe&verb=created')).found).toEqual(['c2']);
    expect((await search(`scope=project:s1&q=task&since=${SEARCH_BASE + MIN}&until=${SEARCH_BASE + 5 * MIN}`)).found).toEqual(['c4', 'c2']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { found: string[]; nextCursor: string | null } = await search(`scope=project:s1&q=task&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.found.length).toBeLessThanOrEqual(3);
      seen.push(...page.found);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['c6', 'c4', 'c2', 'c1']);
  });

  it("finds the tenant's other scopes only without a scope, and never another tenant's activities", async () => {
    expect((await search('q=canary')).found).toEqual(['scope-canary']);
    expect((await search('q=cafe')).found).toEqual(['c2', 'c1', 'scope-canary']);
    expect((await search('q=canary', s.tenantKeys['other'])).found).toEqual(['tenant-canary']);
    expect((await search('scope=project:s1&q=cafe', s.tenantKeys['other'])).found).toEqual(['tenant-canary']);
    expect((await search('q=task', s.tenantKeys['demo'])).found).toEqual([]);
  });

  it('activity.list over the WebSocket takes q, for who may subscribe to the scope', async () => {
    const reader = await RawClient.connect(s.url, await s.token({ sub: 'reader', caps: { 'project:s1': ['subscribe'] } }));
    try {
      const page = reply<{ activities: A[] }>(await reader.call('activity.list', { scope: 'project:s1', q: 'Uber PLAN' }));
      expect(page.activities.map((a) => label(a.id))).toEqual(['c4', 'c3']);
      expect((await reader.call('activity.list', { scope: 'project:s2', q: 'canary' })).error?.code).toBe(103);
      expect((await reader.call('activity.list', { scope: 'project:s1', q: 'x'.repeat(201) })).error?.code).toBe(107);
    } finally {
      reader.close();
    }
  });

  it('refuses a q over 200 characters with 400 / 107', async () => {
    expect(await inScope('word '.repeat(40))).toEqual([]);
    expectApiError(await s.api('GET', `/activities?scope=project:s1&q=${'x'.repeat(201)}`), 400, 107, /query\.q/);
  });

  describe('insights', () => {
    const base = Date.parse('2024-03-10T00:00:00Z');
    const insights = async (params: string, key?: string) => {
      const res = await s.api('GET', `/activity/insights?${params}`, key ? { key } : {});
      expect(res.status, res.text).toBe(200);
      return res.body;
    };

    beforeAll(async () => {
      const at = (scope: string, actor: string, verb: string, time: number) => record({ scope, actor, verb, time });
      await at('project:i1', 'ann', 'created', base + 5 * MIN);
      await at('project:i1', 'ann', 'created', base + 50 * MIN);
      await at('project:i1', 'bob', 'created', base + HOUR + 10 * MIN);
      await at('project:i1', 'bob', 'commented', base + HOUR + 20 * MIN);
      await at('project:i1', 'carol', 'commented', base + DAY + 3 * HOUR);
      await at('project:i1', 'Zoe', 'commented', base + 2 * DAY + HOUR);
      await at('project:i1', 'adam', 'edited', base + 2 * DAY + 2 * HOUR);
      await at('project:i1', 'ann', 'edited', base + 3 * DAY - 1);
      await at('project:i1', 'ann', 'before', base - 1); // outside the range
      await at('project:i1', 'ann', 'after', base + 3 * DAY); // `to` is exclusive
      await at('project:i2', 'erin', 'created', base + 10 * MIN); // another scope
      const other = await s.api('POST', '/activities', {
        key: s.tenantKeys['other'],
        body: { scope: 'project:i1', actor: 'spy', verb: 'created', time: base + 10 * MIN },
      });
      expect(other.status).toBe(201);
    });

    it('counts by verb, by actor and per UTC day, ties by name byte-wise', async () => {
      expect(await insights(`scope=project:i1&from=${base}&to=${base + 3 * DAY}&bucket=day`)).toEqual({
        total: 8,
        actors: 5,
        byVerb: [
          { name: 'commented', count: 3 },
          { name: 'created', count: 3 },
          { name: 'edited', count: 2 },
        ],
        byActor: [
          { name: 'ann', count: 3 },
          { name: 'bob', count: 2 },
          { name: 'Zoe', count: 1 },
          { name: 'adam', count: 1 },
          { name: 'carol', count: 1 },
        ],
        buckets: [
          { start: base, count: 4 },
          { start: base + DAY, count: 1 },
          { start: base + 2 * DAY, count: 3 },
        ],
      });
    });

    it('per hour, with empty buckets and a range that starts inside one', async () => {
      const hours = await insights(`scope=project:i1&from=${base}&to=${base + 3 * HOUR}&bucket=hour&top=1`);
      expect(hours).toMatchObject({ total: 4, actors: 2, byActor: [{ name: 'ann', count: 2 }] });
      expect(hours['buckets']).toEqual([
        { start: base, count: 2 },
        { start: base + HOUR, count: 2 },
        { start: base + 2 * HOUR, count: 0 },
      ]);
      const partial = await insights(`scope=project:i1&from=${base + 30 * MIN}&to=${base + 75 * MIN}&bucket=hour`);
      expect(partial['buckets']).toEqual([
        { start: base, count: 1 },
        { start: base + HOUR, count: 1 },
      ]);
    });

    it("takes ISO dates, q and the whole tenant, and never counts another tenant's", async () => {
      const range = `from=2024-03-10T00:00:00Z&to=2024-03-13T00:00:00Z`;
      expect(await insights(`scope=project:i1&${range}&q=created`)).toMatchObject({ total: 3, byVerb: [{ name: 'created', count: 3 }] });
      expect(await insights(`scope=project:i1&${range}&q=nothing`)).toMatchObject({ total: 0, actors: 0, byVerb: [], byActor: [] });
      const tenant = await insights(`${range}&bucket=day`);
      expect(tenant).toMatchObject({ total: 9, actors: 6 });
      expect(tenant['byActor']).not.toContainEqual(expect.objectContaining({ name: 'spy' }));
      expect(await insights(`${range}`, s.tenantKeys['other'])).toMatchObject({ total: 1, byActor: [{ name: 'spy', count: 1 }] });
    });

    it('refuses bad parameters with a typed error', async () => {
      const get = (params: string) => s.api('GET', `/activity/insights?${params}`);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base + DAY}&bucket=week`), 400, 107, /query\.bucket/);
      expectApiError(await get(`scope=project:i1&from=${base + DAY}&to=${base}`), 400, 107, /query\.to/);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base}`), 400, 107, /query\.to/);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base + 32 * DAY}&bucket=hour`), 400, 107, /31 days/);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base + 367 * DAY}`), 400, 107, /366 days/);
      expectApiError(await get(`scope=project:i1&to=${base}`), 400, 107, /query\.from/);
      expectApiError(await get(`scope=project:i1&from=yesterday&to=${base}`), 400, 107, /query\.from/);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base + DAY}&top=0`), 400, 107, /query\.top/);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base + DAY}&q=${'x'.repeat(201)}`), 400, 107, /query\.q/);
      expectApiError(await get(`scope=project:i1&from=${base}&to=${base + DAY}&extra=1`), 400, 107);
      expectApiError(await get(`scope=nope:1&from=${base}&to=${base + DAY}`), 422, 102);
      expectApiError(await s.api('GET', `/activity/insights?from=${base}&to=${base + DAY}`, { key: null }), 401, 101);
    });
  });
});

describe.each(STORES)('the search index follows merges and retention on %s', (store) => {
  let s: DurableServer;
  beforeAll(async () => {
    s = await startDurableServer(store, { activity: { groupWindow: '1h', retentionDays: 1, sweepInterval: '50ms' } });
  });
  afterAll(async () => {
    await s?.stop();
  });
  const find = async (q: string) => {
    const res = await s.api('GET', `/activities?scope=project:r1&q=${encodeURIComponent(q)}`);
    expect(res.status, res.text).toBe(200);
    return (res.body['activities'] as A[]).map((a) => a.objects);
  };

  it('finds a grouped activity by the objects merged into it', async () => {
    const t = Date.now() - 10 * MIN;
    for (const [i, object] of ['node:alpha', 'node:beta', 'node:gamma'].entries())
      await s.api('POST', '/activities', { body: { scope: 'project:r1', actor: 'bob', verb: 'edited', object, time: t + i * 1000 } });
    expect(await find('gamma')).toEqual([['node:gamma', 'node:beta', 'node:alpha']]);
    expect(await find('node alpha')).toEqual([['node:gamma', 'node:beta', 'node:alpha']]);
  });

  it('a retention delete removes the activity from the index', async () => {
    const old = await s.api('POST', '/activities', {
      body: { scope: 'project:r1', actor: 'ann', verb: 'archived', object: 'ledger:1', data: { text: 'expiring words' }, time: Date.now() - 2 * DAY },
    });
    expect(old.status).toBe(201);
    await eventually(async () => (await find('expiring')).length === 0, 5000, 'the retention sweep');
    expect(await find('gamma')).toHaveLength(1);
    if (store === 'sqlite') {
      const db = s.server.storage.db;
      const { rows } = await sql<{ n: number }>`select count(*) as n from sb_activities_fts where sb_activities_fts match '"expiring"'`.execute(db);
      expect(rows[0]?.n).toBe(0);
      const indexed = await sql<{ n: number }>`select count(*) as n from sb_activities_fts`.execute(db);
      const stored = await sql<{ n: number }>`select count(*) as n from sb_activities`.execute(db);
      expect(indexed.rows[0]?.n).toBe(stored.rows[0]?.n);
    }
  });
});
