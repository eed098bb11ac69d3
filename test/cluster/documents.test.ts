/**
 * Yjs documents on a cluster of three server processes sharing the real Redis and the real
 * PostgreSQL, with real y-websocket providers from npm: clients spread over the nodes
 * converge, a server-side edit on one node reaches the others, a node cut off from Redis
 * reads back from the log what it missed (and the others what it wrote meanwhile), the log
 * is compacted under a lease, awareness goes between the nodes, and a node killed with
 * kill -9 takes its awareness states with it while its clients carry on elsewhere.
 */
import { mintToken } from '@switchboard/server';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { RawClient } from '../helpers/raw-client.js';
import { api, type ClusterNode, dropPrefix, eventually, killHard, newPrefix, SECRET, startNode, stopAll } from './cluster.js';
import { converged, documentProviders, type Provider, tokens, WAIT, write } from './document-providers.js';
import { RedisProxy } from './redis-proxy.js';

const CAPS = {
  'doc:*': ['subscribe', 'publish', 'presence'],
  'scratch:*': ['subscribe', 'publish', 'presence'],
  'form:*': ['subscribe', 'publish', 'presence', 'lock'],
};

describe('documents on a cluster of three nodes', () => {
  const prefix = newPrefix('documents');
  let db: TestDatabase;
  let proxy: RedisProxy;
  let a: ClusterNode;
  let b: ClusterNode;
  let c: ClusterNode;
  const providers = documentProviders(CAPS);
  const provider = providers.open;
  /** The tokens of a document as stored: its snapshot and its log, applied to a fresh document. */
  const storedTokens = async (channel: string): Promise<string[]> => {
    const doc = new Y.Doc();
    const parts = [
      ...(await query('select snapshot as data from sb_document_snapshots where channel = $1', [channel])),
      ...(await query('select data from sb_document_updates where channel = $1 order by seq, id', [channel])),
    ];
    for (const r of parts) if ((r['data'] as Buffer).byteLength > 0) Y.applyUpdate(doc, new Uint8Array(r['data'] as Buffer));
    return doc
      .getText('log')
      .toString()
      .split(';')
      .filter((t) => t !== '')
      .sort();
  };
  const query = async (sql: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: db.database });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  };
  /**
   * Set a field on `from` and wait for what came of it: 'applied' when `to` has the value,
   * 'refused' when the refusal counter rose (no clock: each attempt waits for its own outcome).
   */
  const attempt = async (from: Provider, to: Provider, key: string, value: string, refusals: () => Promise<number>) => {
    const before = await refusals();
    from.doc.getMap('fields').set(key, value);
    let outcome: 'applied' | 'refused' | null = null;
    await eventually(
      async () => {
        if (to.doc.getMap('fields').get(key) === value) outcome = 'applied';
        else if ((await refusals()) > before) outcome = 'refused';
        return outcome !== null;
      },
      WAIT,
      `the outcome of ${key} = ${value}`,
    );
    return outcome as 'applied' | 'refused' | null;
  };
  const metric = async (node: ClusterNode, name: string) => {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    proxy = await RedisProxy.start();
    const config = {
      database: db.database,
      documents: { compactAfter: 10, compactInterval: '0s' },
      locks: { grace: '300ms' },
      limits: { newConnectionsPerIpPerSecond: 100_000 },
      namespaces: {
        doc: { documents: true, historySize: 0, clientPublish: false },
        scratch: { documents: { persistence: false }, historySize: 0, clientPublish: false },
        form: { documents: { lockedParts: { field: 'fields' } }, locks: true, historySize: 0, clientPublish: false },
      },
    };
    // b reaches Redis through a proxy the test can cut; a and c directly.
    [a, b, c] = await Promise.all([
      startNode('a', { prefix, config }),
      startNode('b', { prefix, config, redisUrl: proxy.url }),
      startNode('c', { prefix, config }),
    ]);
  }, 60_000);

  afterAll(async () => {
    providers.closeAll();
    await stopAll([a, b, c].filter(Boolean));
    await proxy?.close();
    await dropPrefix(prefix);
    await db?.drop();
  }, 30_000);

  it('clients on three nodes converge, each change once; an HTTP edit on A reaches B and C; the log is compacted and a fresh client on each node gets it all', async () => {
    const ps = [await provider(a, 'doc:shared', 'ann'), await provider(b, 'doc:shared', 'bob'), await provider(c, 'doc:shared', 'carl')];
    const expected: string[] = [];
    for (let i = 0; i < 30; i++) {
      for (const [k, p] of ps.entries()) {
        write(p, `${k}-${i}`);
        p.doc.getMap('fields').set('same', `${k}-${i}`);
        expected.push(`${k}-${i}`);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await converged(ps, 'the three providers converged');
    expect(tokens(ps[0] as Provider)).toEqual(expected.sort());
    // One value of the contested key, the same everywhere.
    expect(new Set(ps.map((p) => p.doc.getMap('fields').get('same'))).size).toBe(1);

    const http = new Y.Doc();
    http.getMap('http').set('from', 'node a');
    const res = await api(a, 'POST', '/documents/doc:shared/updates', { update: Buffer.from(Y.encodeStateAsUpdate(http)).toString('base64') });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await eventually(() => ps.every((p) => p.doc.getMap('http').get('from') === 'node a'), WAIT, 'the HTTP edit everywhere');

    // More edits until the log is folded under the lease (a write is one entry, however many updates it holds):
    // nothing numbered at or below the snapshot is left in the log, and snapshot and log hold every change.
    const folded = async () => Number((await query("select snapshot_seq from sb_documents where channel = 'doc:shared'"))[0]?.['snapshot_seq']) > 0;
    for (let i = 0; i < 2000 && !(await folded()); i++) {
      const p = ps[i % 3] as Provider;
      write(p, `more-${i}`);
      expected.push(`more-${i}`);
    }
    await eventually(folded, WAIT, 'a compaction');
    const [row] = await query("select seq, snapshot_seq from sb_documents where channel = 'doc:shared'");
    expect(await query("select seq from sb_document_updates where channel = 'doc:shared' and seq <= $1", [Number(row?.['snapshot_seq'])])).toEqual([]);
    expected.sort();
    await eventually(async () => (await storedTokens('doc:shared')).length === expected.length, WAIT, 'every change stored');
    expect(await storedTokens('doc:shared')).toEqual(expected);
    const fresh = [await provider(a, 'doc:shared', 'dan'), await provider(b, 'doc:shared', 'dan'), await provider(c, 'doc:shared', 'dan')];
    await converged([...ps, ...fresh], 'fresh clients converged');
    expect(tokens(fresh[2] as Provider)).toEqual(expected);

    // A document written on A only is loaded by C later, whole.
    const writer = await provider(a, 'doc:late', 'ann');
    for (let i = 0; i < 10; i++) write(writer, `late-${i}`);
    await eventually(async () => (await storedTokens('doc:late')).length === 10, WAIT, 'stored');
    const late = await provider(c, 'doc:late', 'carl');
    expect(tokens(late)).toEqual(tokens(writer));
  });

  it('a document that is not stored is relayed between the nodes too: clients on three nodes converge', async () => {
    const ps = [await provider(a, 'scratch:board', 'ann'), await provider(b, 'scratch:board', 'bob'), await provider(c, 'scratch:board', 'carl')];
    for (let i = 0; i < 10; i++) for (const [k, p] of ps.entries()) write(p, `${k}-${i}`);
    await converged(ps, 'converged without a log');
    expect(tokens(ps[1] as Provider)).toHaveLength(30);
    expect(await query("select channel from sb_documents where channel = 'scratch:board'")).toEqual([]);
  });

  it('a node cut off from Redis misses the relays; once back, it reads what it missed from the log, and the others what it wrote meanwhile: each change once', async () => {
    const pa = await provider(a, 'doc:outage', 'ann');
    const pb = await provider(b, 'doc:outage', 'bob');
    write(pa, 'before');
    await converged([pa, pb], 'before the cut');
    // A client on c, which keeps Redis: what reaches it by relay would have reached b too.
    const pc = await provider(c, 'doc:outage', 'carl');
    await converged([pa, pc], 'c has it');
    const stored = async (prefix: string) => (await storedTokens('doc:outage')).filter((t) => t.startsWith(prefix)).length;
    const caughtUp = [await metric(a, 'switchboard_document_catch_ups_total'), await metric(b, 'switchboard_document_catch_ups_total')];

    proxy.cut();
    for (let i = 0; i < 10; i++) write(pa, `a-${i}`);
    // A logged its client's changes; the relay to B was lost, and B has nothing that makes it look.
    await eventually(async () => (await stored('a-')) === 10, WAIT, "a's changes stored");
    await eventually(() => tokens(pc).filter((t) => t.startsWith('a-')).length === 10, WAIT, 'c got the relay');
    expect(tokens(pb).filter((t) => t.startsWith('a-'))).toEqual([]);
    // B's own changes are numbered after A's: B sees the gap in the log and reads A's changes from it, Redis or not.
    for (let i = 0; i < 10; i++) write(pb, `b-${i}`);
    await eventually(async () => (await stored('b-')) === 10, WAIT, "b's changes stored");
    await eventually(() => tokens(pb).filter((t) => t.startsWith('a-')).length === 10, WAIT, "b read a's changes from the log");
    expect(tokens(pa).filter((t) => t.startsWith('b-'))).toEqual([]);

    proxy.restore();
    await converged([pa, pb], 'after the cut');
    expect(tokens(pa)).toEqual(['before', ...Array.from({ length: 10 }, (_, i) => [`a-${i}`, `b-${i}`]).flat()].sort());
    expect(await metric(a, 'switchboard_document_catch_ups_total')).toBeGreaterThan(caughtUp[0] as number);
    expect(await metric(b, 'switchboard_document_catch_ups_total')).toBeGreaterThan(caughtUp[1] as number);
    await converged([pa, pb, pc], 'the third node too');
    // What a new client on the third node loads is the same.
    const fresh = await provider(c, 'doc:outage', 'dan');
    expect(tokens(fresh)).toEqual(tokens(pa));
  });

  it('a part lock taken on one node guards the part on the others; when its holder drops, the part is free on every node', async () => {
    const pa = await provider(a, 'form:7', 'ann');
    const pb = await provider(b, 'form:7', 'bob');
    pa.doc.getMap('fields').set('email', 'ann@example.com');
    await eventually(() => pb.doc.getMap('fields').get('email') === 'ann@example.com', WAIT, 'bob has it');
    const lock = await RawClient.connect(a.url, await mintToken(SECRET, { sub: 'ann', tenant: 'acme', caps: CAPS as never, ttlSeconds: 3600 }));
    expect((await lock.call('locks.acquire', { channel: 'form:7', key: 'field:email' })).error).toBeUndefined();
    expect((await lock.call('locks.acquire', { channel: 'form:7', key: 'field:probe' })).error).toBeUndefined();
    const refused = () => metric(b, 'switchboard_document_updates_dropped_total\\{reason="locked"\\}');
    // The grants made on a reach b through the relay, in order: once a write to the probe key is refused there, email is guarded too.
    // A write to the probe key before b heard of the grant applies; each attempt waits for its outcome, until one is refused.
    for (let i = 0; (await attempt(pb, pa, 'probe', `probe-${i}`, refused)) === 'applied'; i++) expect(i).toBeLessThan(100);
    const probed = await refused();
    pb.doc.getMap('fields').set('email', 'bob@example.com');
    await eventually(async () => (await refused()) === probed + 1, WAIT, "bob's write refused on b");
    await eventually(() => pb.doc.getMap('fields').get('email') === 'ann@example.com', WAIT, "bob's copy taken back");
    expect(pa.doc.getMap('fields').get('email')).toBe('ann@example.com');
    lock.terminate();
    // Refused until the grace ran out and b heard of the release; then applied.
    for (let i = 0; (await attempt(pb, pa, 'email', `bob, after the grace ${i}`, refused)) === 'refused'; i++) expect(i).toBeLessThan(100);
  });

  it("the document list counts connections on every node and the awareness route lists every node's states, asked on any node, one that has not loaded the document too", async () => {
    const doc = 'doc:census';
    const listed = async (node: ClusterNode) => {
      const res = await api(node, 'GET', '/documents?limit=200');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const row = (res.body['documents'] as Array<{ name: string; connections: number }>).find((d) => d.name === doc);
      return { connections: row?.connections, complete: res.body['complete'], nodes: res.body['nodes'] };
    };
    const aware = async (node: ClusterNode) => {
      const res = await api(node, 'GET', `/documents/${doc}/awareness`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const states = res.body['states'] as Array<{ clientId: number; state: { user?: { name: string } } }>;
      return { names: states.map((st) => st.state.user?.name ?? '?').sort(), complete: res.body['complete'], nodes: res.body['nodes'] };
    };
    const loadedOnC = () => metric(c, 'switchboard_documents_loaded');
    const before = await loadedOnC();

    const pa = await provider(a, doc, 'ann');
    const pb = await provider(b, doc, 'bob');
    pa.provider.awareness.setLocalStateField('user', { name: 'ann' });
    pb.provider.awareness.setLocalStateField('user', { name: 'bob' });
    write(pa, 'stored');
    await eventually(async () => (await storedTokens(doc)).includes('stored'), WAIT, 'the document stored');
    // C holds no copy of the document: what it answers comes from a and b.
    await eventually(async () => (await aware(c)).names.join() === 'ann,bob', WAIT, "ann's and bob's states asked on c");
    expect(await aware(c)).toEqual({ names: ['ann', 'bob'], complete: true, nodes: 3 });
    for (const node of [a, b, c]) await eventually(async () => (await listed(node)).connections === 2, WAIT, `two connections asked on ${node.name}`);
    expect(await loadedOnC()).toBe(before);

    const pc = await provider(c, doc, 'carl');
    pc.provider.awareness.setLocalStateField('user', { name: 'carl' });
    for (const node of [a, b, c]) {
      await eventually(async () => (await listed(node)).connections === 3, WAIT, `three connections asked on ${node.name}`);
      expect(await listed(node)).toEqual({ connections: 3, complete: true, nodes: 3 });
      await eventually(async () => (await aware(node)).names.join() === 'ann,bob,carl', WAIT, `three states asked on ${node.name}`);
    }

    pb.destroy();
    for (const node of [a, b, c]) {
      await eventually(async () => (await listed(node)).connections === 2, WAIT, `two connections after bob left, asked on ${node.name}`);
      await eventually(async () => (await aware(node)).names.join() === 'ann,carl', WAIT, `bob's state gone, asked on ${node.name}`);
    }
  });

  it('awareness goes between the nodes; a node that loads the document later gets the states; kill -9 of a node removes its states, its client carries on elsewhere', async () => {
    const pa = await provider(a, 'doc:aware', 'ann');
    const pc = await provider(c, 'doc:aware', 'carl');
    const names = (p: Provider) =>
      [...p.provider.awareness.getStates().values()]
        .map((s) => (s as { user?: { name: string } }).user?.name)
        .filter((n) => n !== undefined)
        .sort();
    pa.provider.awareness.setLocalStateField('user', { name: 'ann' });
    pc.provider.awareness.setLocalStateField('user', { name: 'carl' });
    await eventually(() => names(pa).join() === 'ann,carl' && names(pc).join() === 'ann,carl', WAIT, 'both states on both nodes');
    const pd = await provider(c, 'doc:aware', 'dave');
    pd.provider.awareness.setLocalStateField('user', { name: 'dave' });
    await eventually(() => names(pa).join() === 'ann,carl,dave', WAIT, "dave's state on a");
    const pb = await provider(b, 'doc:aware', 'bob');
    await eventually(() => names(pb).join() === 'ann,carl,dave', WAIT, 'the states on b, which loaded the document after they were set');
    // The awareness users are members of the channel's presence, asked on the node that holds none of them.
    const members = async () =>
      ((await api(b, 'GET', '/channels/doc:aware/presence')).body['members'] as Array<{ user: string }> | undefined)?.map((m) => m.user).sort() ?? [];
    await eventually(async () => (await members()).join() === 'ann,carl,dave', WAIT, 'ann, carl and dave in the presence of doc:aware');

    write(pc, 'from-c');
    await eventually(() => tokens(pa).includes('from-c') && tokens(pb).includes('from-c'), WAIT, "c's change relayed");
    write(pc, 'c-last');
    // Behind a load balancer the same provider reconnects to another node: here its URL points at a.
    pc.provider.serverUrl = `ws://127.0.0.1:${a.port}/documents`;
    await killHard(c);
    // dave's state goes within the presence TTL (2 s) of the dead node's last heartbeat; carl's provider is back on a meanwhile, and shown from there.
    await eventually(() => pc.provider.wsconnected, WAIT, "carl's provider reconnected to a");
    const again = pc;
    await converged([pa, pb, again], 'after the move');
    expect(tokens(pb).filter((t) => t === 'c-last')).toEqual(['c-last']);
    await eventually(
      () => names(pb).join() === 'ann,carl' && names(pa).join() === 'ann,carl',
      WAIT,
      "dave's state gone with his node, carl's shown from a",
    ).catch((err: Error) => {
      throw new Error(`${err.message}: a ${names(pa)}, b ${names(pb)}`);
    });
    // dave's presence entry went with his node; carl's provider joined again on a.
    await eventually(async () => (await members()).join() === 'ann,carl', WAIT, 'dave gone from presence with his node, carl back from a');
    const stored = await api(b, 'GET', '/documents/doc:aware');
    expect((stored.body['json'] as { log: string }).log.split(';').filter((t) => t === 'c-last')).toHaveLength(1);
  });
});
