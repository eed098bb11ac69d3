/**
 * `UnstoredSync`, what two nodes holding a document that is not stored exchange, without
 * the nodes: the answer to a state vector holds what the asker lacks, says when the asker
 * holds more, and applying answers counts each new byte once however many nodes sent it.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { UnstoredSync } from '../../src/features/documents/unstored-sync.js';

/** A node's copy of the document: its Yjs state, its size counter and what it relayed. */
function node(clientID: number) {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  const relayed: Uint8Array[][] = [];
  const owner = {
    doc,
    channel: 'scratch:x',
    bytes: 0,
    diff: (sv: Uint8Array) => Y.encodeStateAsUpdate(doc, sv),
  };
  const sync = new UnstoredSync(owner, { relay: (u) => relayed.push(u), gone: () => false, logger: pino({ level: 'silent' }) });
  return { doc, owner, sync, relayed };
}
const text = (doc: Y.Doc) => doc.getText('t').toString();

describe('UnstoredSync', () => {
  it('answers a node that holds nothing with everything, and does not ask it back', () => {
    const a = node(1);
    a.doc.getText('t').insert(0, 'hello');
    const c = node(3);
    const answer = a.sync.answer(c.sync.stateVector());
    expect(answer?.askBack).toBe(false);
    c.sync.remote([answer?.update as Uint8Array]);
    expect(text(c.doc)).toBe('hello');
  });

  it('asks back a node that holds something it lacks; both end with the union', () => {
    const a = node(1);
    const c = node(3);
    a.doc.getText('t').insert(0, 'a');
    c.doc.getText('t').insert(0, 'c');
    const answer = a.sync.answer(c.sync.stateVector());
    expect(answer?.askBack).toBe(true);
    c.sync.remote([answer?.update as Uint8Array]);
    const back = c.sync.answer(a.sync.stateVector());
    expect(back?.askBack).toBe(false);
    a.sync.remote([back?.update as Uint8Array]);
    expect(text(a.doc)).toBe(text(c.doc));
    expect(text(a.doc)).toHaveLength(2);
  });

  it('answers with nothing when the asker holds everything, and null for a malformed vector', () => {
    const a = node(1);
    a.doc.getText('t').insert(0, 'same');
    const c = node(3);
    Y.applyUpdate(c.doc, Y.encodeStateAsUpdate(a.doc));
    expect(a.sync.answer(c.sync.stateVector())).toEqual({ update: null, askBack: false });
    expect(a.sync.answer(new Uint8Array([0xff, 0xff, 0xff]))).toBeNull();
  });

  it('counts what answers added once, however many nodes sent the same', () => {
    const a = node(1);
    a.doc.getText('t').insert(0, 'x'.repeat(1000));
    const b = node(2);
    Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc));
    const c = node(3);
    const sv = c.sync.stateVector();
    c.sync.remote([a.sync.answer(sv)?.update as Uint8Array]);
    const once = c.owner.bytes;
    expect(once).toBeGreaterThan(1000);
    c.sync.remote([b.sync.answer(sv)?.update as Uint8Array]);
    expect(c.owner.bytes).toBe(once);
  });

  it("relays this node's changes of one turn together", async () => {
    const a = node(1);
    a.sync.local(new Uint8Array([1]));
    a.sync.local(new Uint8Array([2]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.relayed).toEqual([[new Uint8Array([1]), new Uint8Array([2])]]);
  });
});
