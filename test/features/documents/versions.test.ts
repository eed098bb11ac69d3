import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { converged, DOCUMENT_SETUPS, type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * Named versions on both stores, with real y-websocket providers: create and list, read a
 * version as a Yjs update and as JSON (byte-identical after a restart), restore one while
 * clients edit (a new change every client receives, edits after it kept), undo a restore by
 * restoring the later version, tenants apart, and versions gone with their document.
 */
describe.each(DOCUMENT_SETUPS)('document versions on %s', (store) => {
  let s: DocumentsServer;
  let n = 0;
  const name = () => `doc:versions-${++n}`;
  const pool = new ProviderPool(() => s);
  const { provider } = pool;

  beforeAll(async () => {
    s = await startDocumentsServer(store, {
      // Declared namespaces replace the default ones: doc again.
      namespaces: { doc: { documents: true } },
    });
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
  });

  /** Text, form fields and a rich-text fragment (a paragraph with bold text), as an editor writes them. */
  function write(doc: Y.Doc, text: string, title: string, paragraph: string): void {
    doc.transact(() => {
      const body = doc.getText('body');
      body.delete(0, body.length);
      body.insert(0, text, { bold: true });
      doc.getMap('fields').set('title', title);
      const prose = doc.getXmlFragment('prose');
      prose.delete(0, prose.length);
      const p = new Y.XmlElement('paragraph');
      p.insert(0, [new Y.XmlText(paragraph)]);
      prose.insert(0, [p]);
    });
  }

  const state = (doc: Y.Doc) => ({
    body: doc.getText('body').toString(),
    title: doc.getMap('fields').get('title'),
    prose: doc.getXmlFragment('prose').toString(),
  });

  it('keeps versions, reads them back, and restores one while clients edit: every client converges on it plus the edits made after', async () => {
    const doc = name();
    const [a, b, c] = [await provider(doc, 'ada'), await provider(doc, 'bob'), await provider(doc, 'carol')];
    write(a.doc, 'first draft', 'Draft', 'first paragraph');
    await converged([a.doc, b.doc, c.doc], 'the first draft');
    const v1 = await s.api('POST', `/documents/${doc}/versions`, { body: { label: 'first', createdBy: 'ada' } });
    expect(v1.status).toBe(201);
    write(b.doc, 'second draft', 'Final', 'second paragraph');
    await converged([a.doc, b.doc, c.doc], 'the second draft');
    const v2 = await s.api('POST', `/documents/${doc}/versions`, { body: { label: 'second' } });
    const listed = (await s.api('GET', `/documents/${doc}/versions`)).body['versions'] as Array<{
      id: string;
      label: string;
      createdBy: string | null;
      authors: string[];
    }>;
    // Each version names who changed the document since the one before.
    expect(listed.map((v) => [v.id, v.label, v.createdBy, v.authors])).toEqual([
      [v2.body['id'], 'second', null, ['bob']],
      [v1.body['id'], 'first', 'ada', ['ada']],
    ]);
    const read = await s.api('GET', `/documents/${doc}/versions/${v1.body['id']}`);
    expect(read.body['json']).toMatchObject({ body: 'first draft', fields: { title: 'Draft' } });
    expect(String((read.body['json'] as Record<string, unknown>)['prose'])).toContain('first paragraph');

    // Restore v1 while carol keeps typing in the map.
    c.doc.getMap('fields').set('note', 'typed during the restore');
    const restored = await s.api('POST', `/documents/${doc}/versions/${v1.body['id']}/restore`);
    expect(restored.status).toBe(200);
    c.doc.getMap('fields').set('after', 'typed after the restore');
    await converged([a.doc, b.doc, c.doc], 'after the restore');
    for (const p of [a, b, c]) {
      expect(state(p.doc)).toEqual({ body: 'first draft', title: 'Draft', prose: '<paragraph>first paragraph</paragraph>' });
      expect(p.doc.getText('body').toDelta()).toEqual([{ insert: 'first draft', attributes: { bold: true } }]);
      expect(p.doc.getMap('fields').get('after')).toBe('typed after the restore');
    }

    // A restore is undone by restoring the later version.
    expect((await s.api('POST', `/documents/${doc}/versions/${v2.body['id']}/restore`)).status).toBe(200);
    await eventually(() => state(a.doc).body === 'second draft', WAIT, 'the undo reached a');
    await converged([a.doc, b.doc, c.doc], 'after the undo');
    expect(state(b.doc)).toEqual({ body: 'second draft', title: 'Final', prose: '<paragraph>second paragraph</paragraph>' });

    // A version reads the same after a restart, byte for byte.
    await s.restart();
    const again = await s.api('GET', `/documents/${doc}/versions/${v1.body['id']}`);
    expect(again.body['update']).toBe(read.body['update']);
  });

  it('keeps the authors since the last version across a restart', async () => {
    const doc = name();
    const d = await provider(doc, 'dave');
    d.doc.getText('body').insert(0, 'by dave');
    const e = await provider(doc, 'erin');
    e.doc.getText('body').insert(0, 'and erin, ');
    await eventually(
      async () => String(((await s.api('GET', `/documents/${doc}`)).body['json'] as Record<string, unknown>)['body']) === 'and erin, by dave',
      WAIT,
      'stored',
    );
    d.provider.disconnect();
    e.provider.disconnect();
    await s.restart();
    const v = await s.api('POST', `/documents/${doc}/versions`, { body: {} });
    expect(v.body['authors']).toEqual(['dave', 'erin']);
    const next = await s.api('POST', `/documents/${doc}/versions`, { body: {} });
    expect(next.body['authors']).toEqual([]);
  });

  it("takes versions automatically in a namespace with versionEvery, while the document changes, and none while it doesn't", async () => {
    // A server of its own whose clock moves only when the test moves it.
    const clock = new ManualClock();
    const own = await startDocumentsServer(store, { now: clock.now, namespaces: { auto: { documents: { versionEvery: '300ms' } } } });
    const ownPool = new ProviderPool(() => own);
    try {
      const doc = `auto:${++n}`;
      const a = await ownPool.provider(doc, 'ada', { caps: { 'auto:*': ['subscribe', 'publish'] } });
      const versions = async () => ((await own.api('GET', `/documents/${doc}/versions`)).body['versions'] as Array<{ label: string; authors: string[] }>) ?? [];
      // A version now starts the interval.
      expect((await own.api('POST', `/documents/${doc}/versions`, { body: { label: 'start' } })).status).toBe(201);
      const storedBytes = async () =>
        ((await own.api('GET', '/documents?limit=10')).body['documents'] as Array<{ name: string; bytes: number }>).find((d) => d.name === doc)?.bytes ?? 0;
      /** Edit, wait until the change is in the store (its bytes grew), then until the versions number `expected`. */
      const edit = async (text: string, expected: number) => {
        const before = await storedBytes();
        a.doc.getText('body').insert(0, text);
        await eventually(async () => (await storedBytes()) > before, WAIT, `"${text}" stored`);
        await eventually(async () => (await versions()).length === expected, WAIT, `${expected} versions after "${text}"`);
      };
      // Within the interval: no version; past it: one, with the authors since the last.
      await edit('a,', 1);
      clock.advance(301);
      await edit('b,', 2);
      await edit('c,', 2);
      clock.advance(301);
      await edit('d,', 3);
      const taken = await versions();
      expect(taken.map((v) => v.label)).toEqual(['automatic', 'automatic', 'start']);
      expect(taken[0]?.authors).toEqual(['ada']);
      // Quiet: however far the clock moves, no change means no version.
      clock.advance(60_000);
      expect((await own.api('GET', `/documents/${doc}`)).status).toBe(200);
      expect(await versions()).toHaveLength(3);
      await edit('e,', 4);
    } finally {
      ownPool.destroyAll();
      await own.stop();
    }
  });

  it("keeps tenants apart, answers 404 for another document's or a missing version, and deletes versions with their document", async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    write(a.doc, 'acme canary 51c2', 'T', 'p');
    await eventually(async () => (await s.api('GET', `/documents/${doc}`)).body['json'] !== undefined, WAIT, 'readable');
    const v = await s.api('POST', `/documents/${doc}/versions`, { body: { label: 'kept' } });
    expect(v.status).toBe(201);
    expect((await s.api('GET', `/documents/${doc}/versions`, { tenant: 'demo' })).body['versions']).toEqual([]);
    expect((await s.api('GET', `/documents/${doc}/versions/${v.body['id']}`, { tenant: 'demo' })).status).toBe(404);
    expect((await s.api('GET', `/documents/doc:other/versions/${v.body['id']}`)).status).toBe(404);
    expect((await s.api('POST', `/documents/${doc}/versions/v_missing/restore`)).status).toBe(404);
    expect((await s.api('DELETE', `/documents/${doc}`)).status).toBe(200);
    expect((await s.api('GET', `/documents/${doc}/versions`)).body['versions']).toEqual([]);
  });
});
