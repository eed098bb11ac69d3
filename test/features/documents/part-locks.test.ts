import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { RawClient } from '../../helpers/raw-client.js';
import { DOCUMENT_SETUPS, type DocumentsServer, metric, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * Locks on parts of a document, on both stores, with the lock service taken over the
 * kernel's socket and real providers of both wire protocols: while ann holds `field:email`
 * on `form:…` (whose namespace maps `field` to the root map `fields`), an update from bob
 * that sets, deletes or changes content under that key is refused whole and taken back
 * (counted, his own copy reverted, the Hocuspocus provider told with SyncStatus false), the
 * stored content is unchanged, and his later changes elsewhere apply; the holder writes
 * freely; when ann's connection drops, the part unlocks after the grace and bob's next
 * write applies.
 */
describe.each(DOCUMENT_SETUPS)('locks on parts of a document on %s', (store) => {
  let s: DocumentsServer;
  const pool = new ProviderPool(() => s);
  const raws: RawClient[] = [];
  const hocus: HocuspocusProviderWebsocket[] = [];
  let n = 0;
  const CAPS = { 'form:*': ['subscribe', 'publish', 'presence', 'lock'] };

  beforeAll(async () => {
    s = await startDocumentsServer(store, {
      locks: { grace: '300ms' },
      namespaces: {
        doc: { documents: true },
        form: { documents: { lockedParts: { field: 'fields', node: 'nodes' } }, locks: true, historySize: 0, clientPublish: false },
      },
    });
  });
  afterAll(async () => {
    pool.destroyAll();
    for (const r of raws) r.terminate();
    for (const h of hocus) h.destroy();
    await s?.stop();
  });

  const holder = async (user: string, channel: string, key: string) => {
    const c = await RawClient.connect(s.current.url, await s.current.token({ sub: user, caps: CAPS }));
    raws.push(c);
    const reply = await c.call('locks.acquire', { channel, key });
    expect(reply.error, JSON.stringify(reply.error)).toBeUndefined();
    return c;
  };
  const stored = async (doc: string) => ((await s.api('GET', `/documents/${doc}`)).body['json'] ?? {}) as Record<string, Record<string, unknown>>;
  const dropped = () => metric(s, 'switchboard_document_updates_dropped_total{reason="locked"}');

  it('refuses and takes back what another user writes under a locked key over y-websocket and Hocuspocus, applies the rest and the holder’s writes, and unlocks after the holder drops', async () => {
    const doc = `form:${++n}`;
    const ann = await pool.provider(doc, 'ann', { caps: CAPS });
    const bob = await pool.provider(doc, 'bob', { caps: CAPS });
    const fields = (d: Y.Doc) => d.getMap<unknown>('fields');
    // Before the lock: a nested value under email, which the lock will guard too.
    const card = new Y.Map<unknown>();
    fields(ann.doc).set('email', 'ann@example.com');
    fields(ann.doc).set('card', card);
    card.set('number', '4242');
    await eventually(() => fields(bob.doc).get('email') === 'ann@example.com', WAIT, 'bob has the fields');
    const lock = await holder('ann', doc, 'field:email');
    await holder('ann', doc, 'field:card');
    const before = await dropped();

    // bob sets, deletes and changes content under the locked keys: each update refused, and taken back in his copy too.
    fields(bob.doc).set('email', 'bob@example.com');
    fields(bob.doc).delete('card');
    fields(bob.doc).set('email', 'again');
    await eventually(async () => (await dropped()) >= before + 3, WAIT, "bob's three updates refused");
    await eventually(
      () => fields(bob.doc).get('email') === 'ann@example.com' && (fields(bob.doc).get('card') as Y.Map<unknown> | undefined)?.get('number') === '4242',
      WAIT,
      "bob's copy taken back",
    );
    // One update touching a free key and a locked one is dropped whole too.
    bob.doc.transact(() => {
      fields(bob.doc).set('phone', '555');
      fields(bob.doc).set('email', 'mixed');
    });
    await eventually(async () => (await dropped()) >= before + 4, WAIT, 'the mixed update refused');
    (fields(bob.doc).get('card') as Y.Map<unknown>).set('number', '0000');
    await eventually(async () => (await dropped()) >= before + 5, WAIT, 'the nested change refused');
    // A free key applies.
    fields(bob.doc).set('name', 'Bob');
    await eventually(() => fields(ann.doc).get('name') === 'Bob', WAIT, "bob's free key applied");
    expect(fields(ann.doc).get('email')).toBe('ann@example.com');
    expect((fields(ann.doc).get('card') as Y.Map<unknown>).get('number')).toBe('4242');
    expect(fields(ann.doc).has('phone')).toBe(false);
    expect(fields(bob.doc).has('phone')).toBe(false);
    const json = await stored(doc);
    expect(json['fields']?.['email']).toBe('ann@example.com');
    expect(json['fields']?.['card']).toEqual({ number: '4242' });

    // The holder writes freely, nested content included.
    fields(ann.doc).set('email', 'ann@new.example');
    (fields(ann.doc).get('card') as Y.Map<unknown>).set('number', '1111');
    await eventually(async () => (await stored(doc))['fields']?.['email'] === 'ann@new.example', WAIT, "the holder's write stored");

    // Over Hocuspocus: the refused write is not acknowledged (SyncStatus false) and nobody sees it.
    const socket = new HocuspocusProviderWebsocket({ url: s.documentsUrl, WebSocketPolyfill: WebSocket, delay: 50, minDelay: 50, maxDelay: 200 });
    hocus.push(socket);
    const hp = new HocuspocusProvider({
      websocketProvider: socket,
      name: doc,
      document: new Y.Doc(),
      token: () => s.current.token({ sub: 'carl', caps: CAPS }),
    });
    hp.attach();
    await eventually(() => hp.isSynced, WAIT, 'the Hocuspocus provider synced');
    hp.document.getMap('fields').set('email', 'carl@example.com');
    hp.document.getMap('fields').set('title', 'from carl');
    await eventually(() => fields(ann.doc).get('title') === 'from carl', WAIT, "carl's free key applied");
    expect(hp.unsyncedChanges).toBeGreaterThan(0);
    expect(fields(ann.doc).get('email')).toBe('ann@new.example');

    // The backend's own changes are not held back.
    const res = await s.api('POST', `/documents/${doc}/changes`, {
      body: { ops: [{ op: 'map.set', root: 'fields', key: 'email', value: 'set by the backend' }] },
    });
    expect(res.status).toBe(200);
    await eventually(() => fields(bob.doc).get('email') === 'set by the backend', WAIT, "the backend's change");

    // ann's connection drops: after the grace the part is free and bob's next write applies.
    lock.terminate();
    // Each write waits for its outcome: refused (counted) while the grace runs, then applied.
    for (let i = 0; ; i++) {
      expect(i).toBeLessThan(100);
      const count = await dropped();
      fields(bob.doc).set('email', `bob-${i}`);
      let applied = false;
      await eventually(
        async () => {
          applied = fields(ann.doc).get('email') === `bob-${i}`;
          return applied || (await dropped()) > count;
        },
        WAIT,
        `the outcome of bob-${i}`,
      );
      if (applied) break;
    }
    expect((await stored(doc))['fields']?.['email']).toMatch(/^bob-/);
  });

  it('guards only the declared prefixes, and nothing in a namespace without lockedParts', async () => {
    const doc = `form:${++n}`;
    const ann = await pool.provider(doc, 'ann', { caps: CAPS });
    const bob = await pool.provider(doc, 'bob', { caps: CAPS });
    await holder('ann', doc, 'node:7');
    await holder('ann', doc, 'other:email');
    const before = await dropped();
    bob.doc.getMap('nodes').set('7', { x: 1 });
    bob.doc.getMap('nodes').set('8', { x: 2 });
    bob.doc.getMap('fields').set('email', 'free: other:email guards nothing');
    await eventually(() => ann.doc.getMap('nodes').get('8') !== undefined && ann.doc.getMap('fields').get('email') !== undefined, WAIT, 'the free keys');
    expect(ann.doc.getMap('nodes').has('7')).toBe(false);
    expect(await dropped()).toBe(before + 1);
  });
});
