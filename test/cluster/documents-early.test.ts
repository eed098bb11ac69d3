/**
 * With the Redis engine a node relays its clients' document updates to the other nodes
 * before it stores them: a client on another node gets an update while its write still
 * waits (here on a row lock the test holds on the document in PostgreSQL), and the update
 * is stored once the lock goes; if its node dies before the write, a node that received it
 * stores it. Three server processes, the real Redis and PostgreSQL, real y-websocket providers.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createTestDatabase, type TestDatabase } from '../durable/helpers.js';
import { type ClusterNode, dropPrefix, eventually, killHard, newPrefix, startNode, stopAll } from './cluster.js';
import { converged, documentProviders, tokens, WAIT, write } from './document-providers.js';

describe('documents on three nodes: updates relayed before they are stored', () => {
  const prefix = newPrefix('documents-early');
  let db: TestDatabase;
  let nodes: ClusterNode[] = [];
  const providers = documentProviders({ 'doc:*': ['subscribe', 'publish', 'presence'] });
  const provider = providers.open;

  const query = async (sql: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: db.database });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  };
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
      .filter((t) => t !== '');
  };
  /** Hold the document's row locked (every write of its log waits on it) until the returned function is called. */
  const holdRow = async (channel: string): Promise<() => Promise<void>> => {
    const client = new pg.Client({ connectionString: db.database });
    await client.connect();
    await client.query('BEGIN');
    const rows = await client.query('select 1 from sb_documents where channel = $1 for update', [channel]);
    expect(rows.rowCount).toBe(1);
    return async () => {
      await client.query('COMMIT');
      await client.end();
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const config = { database: db.database, namespaces: { doc: { documents: true, historySize: 0, clientPublish: false } } };
    nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(n, { prefix, config })));
  }, 120_000);

  afterAll(async () => {
    providers.closeAll();
    await stopAll(nodes);
    await dropPrefix(prefix);
    await db?.drop();
  }, 30_000);

  it("reaches another node's client while its write waits on a row lock, and is stored once the lock is released", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const channel = 'doc:early';
    const ps = [await provider(a, channel, 'ann'), await provider(b, channel, 'bob'), await provider(c, channel, 'carl')];
    write(ps[0] as (typeof ps)[number], 'first');
    await converged(ps, 'the first change everywhere');
    await eventually(async () => (await storedTokens(channel)).includes('first'), WAIT, 'the first change stored');
    const release = await holdRow(channel);
    try {
      write(ps[0] as (typeof ps)[number], 'held');
      await eventually(() => ps.every((p) => tokens(p).includes('held')), WAIT, 'the held change on b and c');
      expect(await storedTokens(channel)).not.toContain('held');
    } finally {
      await release();
    }
    await eventually(async () => (await storedTokens(channel)).includes('held'), WAIT, 'the held change stored after the lock');
    expect((await storedTokens(channel)).filter((t) => t === 'held')).toHaveLength(1);
    const fresh = await provider(c, channel, 'dora');
    expect(tokens(fresh)).toEqual(['first', 'held']);
  });

  it('an update whose node dies before storing it is stored by a node it was relayed to', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const channel = 'doc:orphan';
    const pa = await provider(a, channel, 'ann');
    const pb = await provider(b, channel, 'bob');
    write(pa, 'first');
    await converged([pa, pb], 'the first change on both');
    await eventually(async () => (await storedTokens(channel)).includes('first'), WAIT, 'the first change stored');
    const release = await holdRow(channel);
    try {
      write(pa, 'orphan');
      await eventually(() => tokens(pb).includes('orphan'), WAIT, 'the change on b');
      // Its provider is stopped first, so only the nodes hold the change; then its node dies with the write waiting.
      pa.provider.disconnect();
      await killHard(a);
      expect(await storedTokens(channel)).not.toContain('orphan');
    } finally {
      await release();
    }
    pb.provider.disconnect();
    await eventually(async () => (await storedTokens(channel)).includes('orphan'), WAIT, 'the change stored by b once a was gone');
  });
});
