import { DocumentStore } from '@switchboard/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { type DurableServer, STORES, startDurableServer } from '../../durable/helpers.js';

/**
 * The documents log on both stores, as every node that holds a document reads it: numbers
 * given in order, the tail after a number (with the snapshot once the log was folded past
 * it), and compactions fenced by their lease's token, so a holder whose lease ran out and
 * another node compacted after it changes nothing.
 */
describe.each(STORES)('the documents log on %s', (store) => {
  let s: DurableServer;
  let docs: DocumentStore;
  beforeAll(async () => {
    s = await startDurableServer(store);
    docs = new DocumentStore(s.server.storage, () => Date.now());
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** Updates of one writer: each inserts its own token into `log`. */
  const writer = () => {
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => updates.push(u));
    const next = (token: string): Uint8Array => {
      doc.getText('log').insert(0, `${token};`);
      return updates.at(-1) as Uint8Array;
    };
    return { doc, next };
  };
  const text = (parts: Array<Uint8Array | null>) => {
    const doc = new Y.Doc();
    for (const p of parts) if (p && p.byteLength > 0) Y.applyUpdate(doc, p);
    return doc.getText('log').toString().split(';').filter(Boolean).sort();
  };
  const merge = (snapshot: Uint8Array, updates: Uint8Array[]) => Y.mergeUpdates([snapshot, ...updates].filter((u) => u.byteLength > 0));

  it('numbers appends in order, reads the tail after a number, and folds under a fence a stale holder cannot pass', async () => {
    const w = writer();
    expect(await docs.append('acme', 'doc:log', [w.next('1'), w.next('2'), w.next('3')], ['ann'])).toEqual({ from: 1, to: 3 });
    expect(await docs.append('acme', 'doc:log', [w.next('4'), w.next('5')], ['bob', 'ann'])).toEqual({ from: 4, to: 5 });
    const tail = await docs.since('acme', 'doc:log', 3);
    expect(tail?.snapshot).toBeNull();
    expect(tail?.seq).toBe(5);
    expect(tail?.updates).toHaveLength(2);
    expect(text([...(await docs.since('acme', 'doc:log', 0))!.updates])).toEqual(['1', '2', '3', '4', '5']);

    // The holder of token 7 folds 1–5; the tail after 2 is then the snapshot.
    expect((await docs.compact('acme', 'doc:log', merge, 7)).folded).toBe(5);
    const folded = await docs.since('acme', 'doc:log', 2);
    expect(folded?.seq).toBe(5);
    expect(folded?.updates).toEqual([]);
    expect(text([folded?.snapshot ?? null])).toEqual(['1', '2', '3', '4', '5']);

    // A holder with an older token (its lease ran out before 7 was granted) folds nothing.
    expect(await docs.append('acme', 'doc:log', [w.next('6')])).toEqual({ from: 6, to: 6 });
    expect(await docs.compact('acme', 'doc:log', merge, 5)).toEqual({ folded: 0, foldedBytes: 0, before: 0, after: 0 });
    expect((await docs.since('acme', 'doc:log', 5))?.updates).toHaveLength(1);
    expect((await docs.compact('acme', 'doc:log', merge, 8)).folded).toBe(1);

    const loaded = await docs.load('acme', 'doc:log');
    expect(loaded?.seq).toBe(6);
    expect(loaded?.updates).toEqual([]);
    expect(text([loaded?.snapshot ?? null])).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(await docs.since('acme', 'doc:log', 6)).toEqual({ snapshot: null, updates: [], seq: 6 });
    expect(await docs.since('acme', 'doc:none', 0)).toBeNull();
  });

  it('numbers the appends of concurrent writers without a gap or a repeat', async () => {
    const writers = Array.from({ length: 4 }, writer);
    const ranges = await Promise.all(
      writers.flatMap((w, k) => Array.from({ length: 10 }, (_, i) => docs.append('acme', 'doc:race', [w.next(`${k}-${i}a`), w.next(`${k}-${i}b`)]))),
    );
    const numbers = ranges.flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i)).sort((x, y) => x - y);
    expect(numbers).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    const loaded = await docs.load('acme', 'doc:race');
    expect(loaded?.seq).toBe(80);
    expect(text([loaded?.snapshot ?? null, ...(loaded?.updates ?? [])])).toHaveLength(80);
  });
});
