import type { DocumentsService, StoreDocumentEvent } from '@switchboard/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.js';
import { type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

const GROUP_MS = 400;

/**
 * The log's group commit (`documents.groupCommit`): an update after a quiet spell is written
 * at once, as one entry; a burst of updates is written at most once per window, each write
 * one entry holding all of the window's updates, numbered without gaps; every update ends up
 * stored and a restart gives the same document. Counts are checked against the time the test
 * measured, never against a fixed duration.
 */
describe.each(['sqlite', 'postgres'] as const)('the group commit of document logs on %s', (store) => {
  let s: DocumentsServer;
  const pool = new ProviderPool(() => s);
  const stores: Array<StoreDocumentEvent & { at: number }> = [];

  beforeAll(async () => {
    s = await startDocumentsServer(store, { documents: { groupCommit: `${GROUP_MS}ms` } });
    s.current.server.feature<DocumentsService>('documents').onStoreDocument((e) => stores.push({ ...e, at: performance.now() }));
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
  });

  it('writes a lone update at once and a burst once per window, as one entry per write, losing nothing', async () => {
    const name = `doc:group-${store}`;
    const a = await pool.provider(name, 'ada');
    const text = a.doc.getText('body');
    text.insert(0, 'first;');
    await eventually(() => stores.some((e) => e.name === name), WAIT, 'the first update stored');
    const first = stores.filter((e) => e.name === name);
    expect(first).toEqual([expect.objectContaining({ updates: 1, from: 1, to: 1 })]);
    const start = performance.now();
    for (let i = 0; i < 40; i++) {
      text.insert(text.length, `${i};`);
      await new Promise((r) => setImmediate(r));
    }
    await eventually(() => stores.filter((e) => e.name === name).reduce((n, e) => n + e.updates, 0) === 41, WAIT, 'all 41 updates stored');
    const burst = stores.filter((e) => e.name === name).slice(1);
    const spent = (burst.at(-1)?.at as number) - start;
    // At most one write per window that passed (the first may come at once or at the end of the first update's window).
    expect(burst.length).toBeLessThanOrEqual(1 + Math.ceil(spent / GROUP_MS));
    expect(burst.length).toBeLessThan(40);
    // Each write is one entry; entries are numbered one after another.
    const entries = stores.filter((e) => e.name === name);
    for (let i = 0; i < entries.length; i++) {
      expect(entries[i]?.from).toBe(i + 1);
      expect(entries[i]?.to).toBe(i + 1);
    }
    const expected = text.toString();
    a.provider.disconnect();
    await s.restart();
    const b = await pool.provider(name, 'bob');
    expect(b.doc.getText('body').toString()).toBe(expected);
  });
});
