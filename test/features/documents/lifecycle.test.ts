import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORES } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { type DocumentsServer, metric, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * A document's life on a node, against a store that is slow for real (on PostgreSQL another
 * transaction holds the documents' log table locked, so the server's writes wait). A document is never unloaded while a
 * write is pending; a client that joins right after the last one left (1, 10 and 100 ms,
 * around the idle unload) or during a slow write gets the full latest state; and a
 * document whose write waited is unloaded once written, with nothing lost.
 */
describe.each(STORES)('document lifecycle on %s', (store) => {
  let s: DocumentsServer;
  let n = 0;
  const name = () => `doc:life-${++n}`;
  const pool = new ProviderPool(() => s);
  const { provider, open } = pool;
  const loaded = () => metric(s, 'switchboard_documents_loaded');

  beforeAll(async () => {
    s = await startDocumentsServer(store, { documents: { idleUnload: '50ms' } });
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
  });

  /** Every provider of the earlier cases gone, and every document unloaded. */
  async function quiet(): Promise<void> {
    for (const p of open) p.provider.disconnect();
    await eventually(async () => (await loaded()) === 0, WAIT, 'every document unloaded');
  }

  /** Hold the log table of PostgreSQL locked (writes wait on it) until the returned function is called. */
  async function blockWrites(): Promise<() => Promise<void>> {
    const admin = await s.admin();
    await admin.query('BEGIN');
    await admin.query(`LOCK TABLE ${s.db.schema}.sb_document_updates IN ACCESS EXCLUSIVE MODE`);
    return async () => {
      await admin.query('COMMIT');
      await admin.end();
    };
  }

  it.each([1, 10, 100])('a client that opens the document %i ms after the last one left gets the full latest state', async (gap) => {
    const doc = name();
    const a = await provider(doc, 'ada');
    for (let i = 0; i < 20; i++) a.doc.getText('body').insert(0, `${i},`);
    const expected = a.doc.getText('body').toString();
    a.provider.disconnect();
    await new Promise((r) => setTimeout(r, gap));
    const b = await provider(doc, 'bob');
    expect(b.doc.getText('body').toString()).toBe(expected);
  });

  // On PostgreSQL only: SQLite's driver is synchronous, so a write that waits on another process's lock holds the whole node (only the server writes its file).
  it.runIf(store === 'postgres')(
    'never unloads a document while its write waits on a slow store; a client that joins meanwhile gets the latest state; once written it unloads and nothing is lost',
    async () => {
      await quiet();
      const doc = name();
      const a = await provider(doc, 'ada');
      a.doc.getText('body').insert(0, 'stored before. ');
      await eventually(async () => (await s.api('GET', '/documents?limit=200')).body['documents'] !== undefined, WAIT, 'api up');
      const release = await blockWrites();
      try {
        const applied = await metric(s, 'switchboard_document_updates_total');
        a.doc.getText('body').insert(0, 'written while the store is slow. ');
        const expected = a.doc.getText('body').toString();
        await eventually(async () => (await metric(s, 'switchboard_document_updates_total')) > applied, WAIT, 'the change applied (its write waits)');
        a.provider.disconnect();
        // Well past the idle unload (50 ms): the pending write keeps the document loaded.
        await new Promise((r) => setTimeout(r, 400));
        expect(await loaded()).toBeGreaterThanOrEqual(1);
        const b = await provider(doc, 'bob');
        expect(b.doc.getText('body').toString()).toBe(expected);
        b.provider.disconnect();
      } finally {
        await release();
      }
      await eventually(async () => (await loaded()) === 0, WAIT, 'unloaded once written');
      const c = await provider(doc, 'carol');
      expect(c.doc.getText('body').toString()).toBe('written while the store is slow. stored before. ');
      c.provider.disconnect();
      await eventually(async () => (await loaded()) === 0, WAIT, 'unloaded again');
    },
  );

  it.runIf(store === 'sqlite')(
    'loads and unloads 10,000 documents and returns the memory: heap within 5 % and no timer left behind',
    async () => {
      const cycle = async (from: number, count: number) => {
        for (let i = from; i < from + count; i++) expect((await s.api('GET', `/documents/doc:cycle-${i}`)).status).toBe(200);
        await eventually(async () => (await loaded()) === 0, 30_000, 'every cycled document unloaded');
      };
      v8.setFlagsFromString('--expose_gc');
      const gc = runInNewContext('gc') as () => void;
      const heap = () => {
        gc();
        gc();
        return process.memoryUsage().heapUsed;
      };
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      await quiet();
      // A first round warms every path up; the second is measured against it.
      await cycle(0, 1000);
      const before = { heap: heap(), timers: timers() };
      await cycle(1000, 10_000);
      const after = { heap: heap(), timers: timers() };
      expect(after.timers).toBeLessThanOrEqual(before.timers);
      expect(after.heap / before.heap).toBeLessThan(1.05);
    },
    120_000,
  );
});
