import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { STORES } from '../../durable/helpers.js';
import { eventually } from '../../helpers/eventually.js';
import { converged, type DocumentsServer, metric, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * A loaded document nobody used for `documents.hibernateAfter` is held as its encoded state,
 * and its next use rebuilds it exactly: same state vector, same content, nothing lost,
 * whether its clients stayed connected, came back one by one or all at once.
 */
describe.each(STORES)('hibernated documents on %s', (store) => {
  let s: DocumentsServer;
  let n = 0;
  const name = () => `doc:sleep-${++n}`;
  const pool = new ProviderPool(() => s);
  const { provider } = pool;
  const hibernated = () => metric(s, 'switchboard_documents_hibernated');
  const loaded = () => metric(s, 'switchboard_documents_loaded');
  const sv = (d: Y.Doc) => Buffer.from(Y.encodeStateVector(d)).toString('hex');
  /** Every loaded document hibernated (the earlier cases' ones too). */
  const allAsleep = () => eventually(async () => (await hibernated()) > 0 && (await hibernated()) === (await loaded()), WAIT, 'every document hibernated');

  beforeAll(async () => {
    s = await startDocumentsServer(store, { documents: { hibernateAfter: '50ms', idleUnload: '60s' } });
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
  });

  it('a document its client keeps open hibernates and comes back exactly: edits after it reach a new client, state vectors equal', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    a.doc.getText('body').insert(0, 'before the sleep. ');
    a.doc.getMap('fields').set('email', 'ada@example.com');
    await allAsleep();
    // A joiner that holds nothing gets the encoded state without a rebuild.
    const b = await provider(doc, 'bob');
    expect(sv(b.doc)).toBe(sv(a.doc));
    expect(b.doc.getText('body').toString()).toBe('before the sleep. ');
    expect(await hibernated()).toBe(await loaded());
    // The next change rebuilds it, applies, and reaches the other client.
    a.doc.getText('body').insert(0, 'after. ');
    await converged([a.doc, b.doc], 'the change after the sleep reached bob');
    expect(b.doc.getText('body').toString()).toBe('after. before the sleep. ');
    expect(b.doc.getMap('fields').get('email')).toBe('ada@example.com');
    const read = await s.api('GET', `/documents/${doc}`);
    expect((read.body['json'] as Record<string, unknown>)['body']).toBe('after. before the sleep. ');
  });

  it('edits with sleeps between them lose nothing: a fresh client after a restart holds every one', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    for (let i = 0; i < 5; i++) {
      a.doc.getText('body').insert(a.doc.getText('body').length, `${i};`);
      await allAsleep();
    }
    const expected = a.doc.getText('body').toString();
    expect(expected).toBe('0;1;2;3;4;');
    const again = await provider(doc, 'bob');
    expect(sv(again.doc)).toBe(sv(a.doc));
    a.provider.disconnect();
    again.provider.disconnect();
    await s.restart();
    const fresh = await provider(doc, 'cy');
    expect(fresh.doc.getText('body').toString()).toBe(expected);
    expect(sv(fresh.doc)).toBe(sv(a.doc));
  });

  it('clients that open and edit a hibernated document all at once converge on every edit', async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    a.doc.getText('body').insert(0, 'seed. ');
    a.provider.disconnect();
    await allAsleep();
    const joiners = await Promise.all(['b', 'c', 'd', 'e', 'f'].map((u) => provider(doc, u, { awaitSync: false })));
    for (const [i, j] of joiners.entries()) j.doc.getText('body').insert(0, `${i}!`);
    await eventually(() => joiners.every((j) => j.provider.synced), WAIT, 'every joiner synced');
    await converged(
      joiners.map((j) => j.doc),
      'the joiners converged',
    );
    const text = (joiners[0] as (typeof joiners)[number]).doc.getText('body').toString();
    for (let i = 0; i < joiners.length; i++) expect(text).toContain(`${i}!`);
    expect(text).toContain('seed. ');
    await allAsleep();
    const late = await provider(doc, 'late');
    expect(late.doc.getText('body').toString()).toBe(text);
  });

  it("a hibernated document keeps its clients' awareness: a joiner sees who is there", async () => {
    const doc = name();
    const a = await provider(doc, 'ada');
    a.doc.getText('body').insert(0, 'x');
    a.provider.awareness.setLocalStateField('user', { name: 'Ada' });
    await allAsleep();
    const b = await provider(doc, 'bob');
    await eventually(
      () => (b.provider.awareness.getStates().get(a.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Ada',
      WAIT,
      "ada's awareness state at bob",
    );
    expect(b.doc.getText('body').toString()).toBe('x');
  });
});
