import * as decoding from 'lib0/decoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { eventually } from '../../helpers/eventually.js';
import { converged, type DocumentsServer, ProviderPool, startDocumentsServer, WAIT } from './helpers.js';

const WINDOW_MS = 400;

/**
 * The send window of a busy document (`documents.sendWindow`): a change after a quiet
 * spell reaches the other connections at once, a burst reaches each at most once per
 * window, as one merged message, and nothing is lost. A raw WebSocket counts the update
 * messages it receives; counts are checked against the time the test measured, never
 * against a fixed duration.
 */
describe('the send window of a busy document', () => {
  let s: DocumentsServer;
  const pool = new ProviderPool(() => s);

  beforeAll(async () => {
    s = await startDocumentsServer('sqlite', { documents: { sendWindow: `${WINDOW_MS}ms` } });
  });
  afterAll(async () => {
    pool.destroyAll();
    await s?.stop();
  });

  it('sends a lone change at once and a burst once per window, merged, losing nothing', async () => {
    const name = 'doc:window';
    const a = await pool.provider(name, 'ada');
    const token = await s.current.token({ sub: 'reader' });
    const ws = new WebSocket(`${s.documentsUrl}/${name}?token=${token}`);
    const received: Array<{ at: number; update: Uint8Array }> = [];
    ws.on('message', (data: Buffer) => {
      // y-protocols: messageSync (0), then an update (2) or sync step 2 (1), then the update's bytes.
      const d = decoding.createDecoder(new Uint8Array(data));
      if (decoding.readVarUint(d) === 0 && decoding.readVarUint(d) === 2) received.push({ at: performance.now(), update: decoding.readVarUint8Array(d) });
    });
    await new Promise((r) => ws.once('open', r));
    const reader = await pool.provider(name, 'bob');
    const text = a.doc.getText('body');

    text.insert(0, 'first;');
    await eventually(() => received.length === 1, WAIT, 'the first change sent');
    // A burst, each change in a turn of its own.
    const start = performance.now();
    for (let i = 0; i < 40; i++) {
      text.insert(text.length, `${i};`);
      await new Promise((r) => setImmediate(r));
    }
    await converged([a.doc, reader.doc], 'the reader has the burst');
    await eventually(
      () => {
        const doc = new Y.Doc();
        for (const r of received) Y.applyUpdate(doc, r.update);
        return doc.getText('body').toString() === text.toString();
      },
      WAIT,
      'the raw socket got every change',
    );
    const burst = received.slice(1);
    const spent = (burst.at(-1)?.at as number) - start;
    // At most one send per window that passed (the first may come at once or at the end of the first window).
    expect(burst.length).toBeLessThanOrEqual(1 + Math.ceil(spent / WINDOW_MS));
    expect(burst.length).toBeLessThan(40);
    ws.close();
  });
});
