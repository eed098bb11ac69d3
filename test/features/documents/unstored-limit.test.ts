import type { SwitchboardClient, SwitchboardError } from '@switchboard/client';
import { documents } from '@switchboard/client/documents';
import { DocumentCloseCode, ErrorCode } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.js';
import { connectedClient } from '../../helpers/sdk-client.js';
import { converged, type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

/**
 * The size limit of a document that is not stored (`persistence: false`), on one node: what
 * its own clients write counts toward `maxDocumentBytes` as a stored document's writes do, so
 * the update that would take it above the limit is refused before it is applied (4413 for a
 * y-websocket provider, 114 for the SDK), reaches nobody, and the other clients go on.
 */
describe('the size limit of a document that is not stored', () => {
  let s: DocumentsServer;
  const pool = new ProviderPool(() => s);
  const cleanup: Array<() => void> = [];
  const CAPS = { 'scratch:*': ['subscribe', 'publish', 'presence'] };

  beforeAll(async () => {
    s = await startDocumentsServer('sqlite', {
      // Declared namespaces replace the default ones: doc is declared again beside scratch.
      namespaces: { doc: { documents: true }, scratch: { documents: { persistence: false, maxDocumentBytes: 4096 } } },
    });
  });
  afterAll(async () => {
    for (const fn of cleanup) fn();
    pool.destroyAll();
    await s?.stop();
  });

  it('applies writes up to maxDocumentBytes and refuses the one beyond it (4413, 114): it reaches nobody and the others keep converging', async () => {
    const name = 'scratch:limit-1';
    const a = await pool.provider(name, 'ada', { caps: CAPS });
    const b = await pool.provider(name, 'bob', { caps: CAPS });
    const c: SwitchboardClient = await connectedClient(s.current.url, () => s.current.token({ sub: 'cid', caps: CAPS }), cleanup);
    const h = documents(c).open(name);
    const errors: SwitchboardError[] = [];
    h.on('error', (e) => errors.push(e.error));
    await h.synced;
    const body = (d: { getText(n: string): { toString(): string } }) => d.getText('body').toString();

    // Three writes of about 1,000 bytes each, one per client: about 3,100 of the 4,096 bytes.
    a.doc.getText('body').insert(0, 'a'.repeat(1000));
    await converged([a.doc, b.doc, h.doc], 'the first write');
    h.doc.getText('body').insert(1000, 'h'.repeat(1000));
    await converged([a.doc, b.doc, h.doc], 'the SDK write');
    b.doc.getText('body').insert(2000, 'b'.repeat(1000));
    await converged([a.doc, b.doc, h.doc], 'the third write');
    await eventually(() => h.status === 'synced', WAIT, 'the SDK write acknowledged');
    const held = body(b.doc);
    expect(held).toBe(`${'a'.repeat(1000)}${'h'.repeat(1000)}${'b'.repeat(1000)}`);

    // 1,500 more bytes from the provider: refused with 4413, before anything is applied.
    a.doc.getText('body').insert(0, 'x'.repeat(1500));
    await eventually(() => a.closes.length > 0, WAIT, 'the close above the size');
    expect(a.closes[0]?.code).toBe(DocumentCloseCode.TooLarge.code);
    // Still room for a small change, which reaches the others after anything sent before it.
    b.doc.getText('body').insert(0, 'ok;');
    await eventually(() => body(h.doc) === `ok;${held}`, WAIT, "bob's small change after the refused one");

    // 1,500 more bytes from the SDK: refused with 114.
    h.doc.getText('body').insert(0, 'y'.repeat(1500));
    await eventually(() => errors.length > 0, WAIT, 'the SDK refused above the size');
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.PayloadTooLarge.code]);
    b.doc.getText('body').insert(0, 'ok2;');
    const late = await pool.provider(name, 'dan', { caps: CAPS });
    await converged([b.doc, late.doc], 'a late provider');
    expect(body(b.doc)).toBe(`ok2;ok;${held}`);
    expect(body(late.doc)).toBe(`ok2;ok;${held}`);
  });
});
