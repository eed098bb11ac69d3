import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Server-side filters over publication tags, checked against a reference evaluator written
 * here: random tags and random filters (a seeded generator) through real subscriptions on
 * real sockets, live and recovered, on one node and on two nodes over Redis.
 */

type Tags = Record<string, string>;
type Filter = { tags: Record<string, string | string[]> } | { and: Filter[] } | { or: Filter[] } | { not: Filter };

/** mulberry32: a small seeded generator, so a failing case can be replayed from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['team', 'level', 'region', 'kind'];
const VALUES = ['a', 'b', 'c', 'd'];

class Gen {
  readonly #r: () => number;
  constructor(seed: number) {
    this.#r = seeded(seed);
  }
  int(n: number): number {
    return Math.floor(this.#r() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }
  /** Tags of a publication: none at all sometimes, else 1–4 of the names. */
  tags(): Tags | undefined {
    if (this.int(6) === 0) return undefined;
    const out: Tags = {};
    for (const name of NAMES) if (this.int(3) > 0) out[name] = this.pick(VALUES);
    return out;
  }
  filter(depth = 1): Filter {
    const kind = depth >= 3 ? 0 : this.int(5);
    if (kind <= 1) {
      const clause: Record<string, string | string[]> = {};
      const n = 1 + this.int(2);
      for (let i = 0; i < n; i++) {
        const name = this.pick(NAMES);
        clause[name] = this.int(2) === 0 ? this.pick(VALUES) : [this.pick(VALUES), this.pick(VALUES)];
      }
      return { tags: clause };
    }
    if (kind === 2) return { not: this.filter(depth + 1) };
    const parts = Array.from({ length: 2 + this.int(2) }, () => this.filter(depth + 1));
    return kind === 3 ? { and: parts } : { or: parts };
  }
}

/** The reference evaluator: the documented semantics, written independently of the server's. */
function matches(f: Filter, tags: Tags | undefined): boolean {
  if ('tags' in f) {
    return Object.entries(f.tags).every(([name, want]) => {
      const have = tags !== undefined && Object.hasOwn(tags, name) ? tags[name] : undefined;
      return have !== undefined && (Array.isArray(want) ? want.includes(have) : want === have);
    });
  }
  if ('and' in f) return f.and.every((p) => matches(p, tags));
  if ('or' in f) return f.or.some((p) => matches(p, tags));
  return !matches(f.not, tags);
}

const pubOffsets = (c: RawClient, channel: string) => c.pushes('pub', channel).map((f) => f['offset'] as number);

interface Published {
  offset: number;
  tags: Tags | undefined;
}

async function publishAll(via: RawClient, channel: string, list: Array<Tags | undefined>): Promise<Published[]> {
  const ids = list.map((tags, i) => via.send('publish', { channel, data: { i }, ...(tags ? { tags } : {}) }));
  const out: Published[] = [];
  for (const [i, id] of ids.entries()) {
    const reply = await via.waitFor((f) => f.id === id);
    expect(reply.error).toBeUndefined();
    out.push({ offset: reply.result?.['offset'] as number, tags: list[i] });
  }
  return out;
}

const LIMITS = {
  newConnectionsPerIpPerSecond: 100_000,
  publishPerSecondPerConnection: 100_000,
  eventsPerMinutePerUser: 100_000_000,
  commandsPerSecond: 100_000,
};

describe('filters on one node', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ limits: LIMITS, namespaces: { project: { historySize: 1000 }, chat: {}, plain: { tags: false } } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('delivers to each of 40 subscribers exactly the publications its random filter matches (3 seeds × 150 publications)', async () => {
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'pub' }));
    for (const seed of [1, 2, 3]) {
      const gen = new Gen(seed);
      const channel = `project:random-${seed}`;
      const subs: Array<{ c: RawClient; filter: Filter }> = [];
      for (let i = 0; i < 40; i++) {
        const c = await RawClient.connect(s.url, await s.token({ sub: `reader${i}` }));
        const filter = gen.filter();
        const reply = await c.call('subscribe', { channel, filter });
        expect(reply.error, JSON.stringify(filter)).toBeUndefined();
        subs.push({ c, filter });
      }
      const published = await publishAll(
        pub,
        channel,
        Array.from({ length: 150 }, () => gen.tags()),
      );
      for (const { c, filter } of subs) {
        // The memory engine hands a publication to subscribers before the publish reply, so
        // a reply to this connection's next command comes after every publication it is owed.
        await c.call('ping', {});
        const got = c.pushes('pub', channel);
        const want = published.filter((p) => matches(filter, p.tags)).map((p) => p.offset);
        expect(
          got.map((f) => f['offset']),
          `seed ${seed}, filter ${JSON.stringify(filter)}`,
        ).toEqual(want);
        for (const f of got) expect(f['tags']).toEqual(published[(f['offset'] as number) - 1]?.tags);
      }
      for (const { c } of subs) c.close();
    }
    pub.close();
  });

  it('recovers after a forced drop exactly the missed publications its filter matches, then continues live', async () => {
    const gen = new Gen(42);
    const channel = 'project:recover';
    const filter: Filter = { or: [{ tags: { team: 'a' } }, { and: [{ tags: { level: ['b', 'c'] } }, { not: { tags: { region: 'd' } } }] }] };
    const pub = await RawClient.connect(s.url, await s.token({ sub: 'pub' }));
    let sub = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
    const first = await sub.call('subscribe', { channel, filter });
    const epoch = first.result?.['epoch'] as string;
    const before = await publishAll(
      pub,
      channel,
      Array.from({ length: 60 }, () => gen.tags()),
    );
    const wantBefore = before.filter((p) => matches(filter, p.tags)).map((p) => p.offset);
    expect(wantBefore.length).toBeGreaterThan(5);
    const lastSeen = wantBefore.at(-1) as number;
    await sub.until(() => pubOffsets(sub, channel).includes(lastSeen), 5000, 'before the drop');
    expect(pubOffsets(sub, channel)).toEqual(wantBefore);
    sub.terminate();
    const missed = await publishAll(
      pub,
      channel,
      Array.from({ length: 80 }, () => gen.tags()),
    );
    // The position is the last offset received, not the stream's: what the filter passed over after it is judged again.
    sub = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
    const id = sub.send('subscribe', { channel, filter, recover: { offset: lastSeen, epoch } });
    const during = await publishAll(
      pub,
      channel,
      Array.from({ length: 40 }, () => gen.tags()),
    );
    const reply = await sub.waitFor((f) => f.id === id);
    expect(reply.result).toMatchObject({ recovered: true, epoch });
    const recovered = (reply.result?.['publications'] as Frame[]).map((p) => p['offset'] as number);
    const all = [...before.filter((p) => p.offset > lastSeen), ...missed, ...during];
    const want = all.filter((p) => matches(filter, p.tags)).map((p) => p.offset);
    const lastWanted = want.at(-1) as number;
    await sub.until(() => [...recovered, ...pubOffsets(sub, channel)].includes(lastWanted), 5000, 'live after recovery');
    expect([...recovered, ...pubOffsets(sub, channel)]).toEqual(want);
    // Recovered publications carry their tags, as live ones do.
    for (const p of reply.result?.['publications'] as Frame[]) expect(matches(filter, p['tags'] as Tags)).toBe(true);
    pub.close();
    sub.close();
  });

  it('stores tags with the publication: history and HTTP publish return them', async () => {
    const channel = 'project:http-tags';
    const sub = await RawClient.connect(s.url, await s.token({ sub: 'reader' }));
    await sub.call('subscribe', { channel, filter: { tags: { team: 'eng' } } });
    const headers = { authorization: `Bearer ${s.tenantKeys['acme']}`, 'content-type': 'application/json' };
    const one = await fetch(`${s.httpUrl}/api/v1/publish`, { method: 'POST', headers, body: JSON.stringify({ channel, data: 1, tags: { team: 'ops' } }) });
    expect(one.status).toBe(200);
    const batch = await fetch(`${s.httpUrl}/api/v1/batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        publications: [
          { channel, data: 2, tags: { team: 'eng' } },
          { channel, data: 3 },
        ],
      }),
    });
    expect(((await batch.json()) as { results: unknown[] }).results).toHaveLength(2);
    const broadcast = await fetch(`${s.httpUrl}/api/v1/broadcast`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ channels: [channel], data: 4, tags: { team: 'eng' } }),
    });
    expect(broadcast.status).toBe(200);
    await sub.until(() => pubOffsets(sub, channel).includes(4), 5000, 'broadcast');
    expect(sub.pushes('pub', channel).map((f) => [f['offset'], f['data'], f['tags']])).toEqual([
      [2, 2, { team: 'eng' }],
      [4, 4, { team: 'eng' }],
    ]);
    const history = await sub.call('history', { channel });
    expect((history.result?.['publications'] as Frame[]).map((p) => p['tags'] ?? null)).toEqual([{ team: 'ops' }, { team: 'eng' }, null, { team: 'eng' }]);
    sub.close();
  });
});

describe('filters on two nodes over Redis', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const redis = { redis: 'redis://127.0.0.1:6379', redisPrefix: `sbfilter-${randomBytes(4).toString('hex')}` };
    const config = { ...redis, limits: LIMITS, namespaces: { project: { historySize: 1000 } } };
    a = await startTestServer(config);
    b = await startTestServer(config);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('delivers matching publications across nodes and recovers exactly the matching missed ones on the other node', async () => {
    const gen = new Gen(7);
    const channel = 'project:cluster';
    const pub = await RawClient.connect(a.url, await a.token({ sub: 'pub' }));
    const filters = Array.from({ length: 12 }, () => gen.filter());
    const subs: RawClient[] = [];
    for (const [i, filter] of filters.entries()) {
      const c = await RawClient.connect(b.url, await b.token({ sub: `r${i}` }));
      expect((await c.call('subscribe', { channel, filter })).error).toBeUndefined();
      subs.push(c);
    }
    const epoch = ((await subs[0]?.call('history', { channel, limit: 0 }))?.result?.['epoch'] as string) ?? '';
    const before = await publishAll(
      pub,
      channel,
      Array.from({ length: 80 }, () => gen.tags()),
    );
    const lastSeen: number[] = [];
    for (const [i, c] of subs.entries()) {
      const want = before.filter((p) => matches(filters[i] as Filter, p.tags)).map((p) => p.offset);
      const last = want.at(-1);
      if (last !== undefined) await c.until(() => pubOffsets(c, channel).includes(last), 5000, `node b, filter ${i}`);
      expect(pubOffsets(c, channel)).toEqual(want);
      lastSeen.push(last ?? 0);
      c.terminate();
    }
    const missed = await publishAll(
      pub,
      channel,
      Array.from({ length: 60 }, () => gen.tags()),
    );
    // Each reader comes back on node a and recovers from the last offset it received.
    for (const [i, filter] of filters.entries()) {
      const c = await RawClient.connect(a.url, await a.token({ sub: `r${i}` }));
      const reply = await c.call('subscribe', { channel, filter, recover: { offset: lastSeen[i], epoch } });
      expect(reply.result).toMatchObject({ recovered: true, epoch });
      const got = (reply.result?.['publications'] as Frame[]).map((p) => p['offset']);
      const want = [...before, ...missed].filter((p) => p.offset > (lastSeen[i] as number) && matches(filter, p.tags)).map((p) => p.offset);
      expect(got, JSON.stringify(filter)).toEqual(want);
      c.close();
    }
    pub.close();
  });
});
