/**
 * Fuzz of what the documents feature does with a client's Yjs update before anything else
 * sees it (`applyChecked`): 10,000 updates mutated from a corpus of real ones (bit flips,
 * bytes changed, inserted and deleted, truncation, varints blown up, random bytes,
 * updates spliced together). A refused update leaves the document byte-identical; an
 * accepted one leaves it consistent (its state re-encodes and loads into a fresh document
 * with the same content); one that breaks halfway through Yjs's integration is reported
 * as such (the feature then discards the document); nothing throws.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { seeded } from '../../../../test/helpers/seeded.js';
import { applyChecked, pendingBytes } from '../../src/features/documents/update-check.js';

const CASES = 10_000;
const MAX_PENDING = 64 * 1024;

/** Real updates of an editing session: text, map keys (one named __proto__), arrays, nested maps, XML, deletions. */
function corpus(): { base: Uint8Array; updates: Uint8Array[] } {
  // Fixed client ids: the same seed gives the same cases on every run.
  const doc = new Y.Doc();
  doc.clientID = 1;
  const updates: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => updates.push(u));
  const text = doc.getText('body');
  const fields = doc.getMap('fields');
  const list = doc.getArray<unknown>('list');
  text.insert(0, 'The quick brown fox');
  fields.set('title', 'Form 42');
  fields.set('__proto__', { polluted: true });
  const nested = new Y.Map<unknown>();
  fields.set('address', nested);
  nested.set('city', 'Lyon');
  list.insert(0, [1, 'two', { three: 3 }, [4]]);
  text.delete(4, 6);
  text.insert(4, 'slow ', { bold: true });
  const xml = doc.getXmlFragment('prose');
  const p = new Y.XmlElement('p');
  xml.insert(0, [p]);
  p.insert(0, [new Y.XmlText('paragraph')]);
  list.delete(1, 1);
  fields.delete('title');
  const base = Y.encodeStateAsUpdate(doc);
  // Updates a second client makes on top of the base: what the fuzz mutates.
  const other = new Y.Doc();
  other.clientID = 2;
  Y.applyUpdate(other, base);
  const more: Uint8Array[] = [base];
  other.on('update', (u: Uint8Array) => more.push(u));
  other.getText('body').insert(0, 'Edited: ');
  other.getMap('fields').set('status', 'draft');
  other.getArray('list').push([5, 6, 7]);
  other.getText('body').delete(0, 3);
  return { base, updates: [...updates, ...more] };
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function mutate(rand: () => number, source: Uint8Array, pool: Uint8Array[]): Uint8Array {
  const bytes = [...source];
  const at = () => Math.floor(rand() * Math.max(1, bytes.length));
  switch (Math.floor(rand() * 9)) {
    case 0: // flip 1 to 3 bits
      for (let i = Math.floor(rand() * 3) + 1; i > 0; i--) {
        const k = at();
        bytes[k] = (bytes[k] ?? 0) ^ (1 << Math.floor(rand() * 8));
      }
      break;
    case 1: // set a byte
      bytes[at()] = Math.floor(rand() * 256);
      break;
    case 2: // truncate
      bytes.length = at();
      break;
    case 3: // insert bytes
      bytes.splice(at(), 0, ...Array.from({ length: Math.floor(rand() * 4) + 1 }, () => Math.floor(rand() * 256)));
      break;
    case 4: // delete bytes
      bytes.splice(at(), Math.floor(rand() * 4) + 1);
      break;
    case 5: // a length or clock blown up
      bytes.splice(at(), 1, ...varint(Math.floor(rand() * 2 ** 31)));
      break;
    case 6: // random bytes
      return Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
    case 7: // two updates spliced
      return Uint8Array.from([...bytes.slice(0, at()), ...(pool[Math.floor(rand() * pool.length)] as Uint8Array).slice(1)]);
    default: // deeply nested JSON content in a valid envelope
      return deeplyNested(Math.floor(rand() * 5000) + 100);
  }
  return Uint8Array.from(bytes);
}

/** A real update whose map value is JSON nested `depth` deep. */
function deeplyNested(depth: number): Uint8Array {
  const doc = new Y.Doc();
  let value: unknown = 'leaf';
  for (let i = 0; i < Math.min(depth, 500); i++) value = [value];
  doc.getMap('fields').set('deep', value);
  return Y.encodeStateAsUpdate(doc);
}

const stateOf = (doc: Y.Doc) => Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64');

describe('client updates, fuzzed', () => {
  it(`refuses a malformed update with the document unchanged, and leaves it consistent when one is accepted (${CASES.toLocaleString('en')} cases)`, () => {
    const { base, updates } = corpus();
    const rand = seeded(0x5eed);
    const tally = { applied: 0, invalid: 0, pending: 0, broken: 0 };
    for (let i = 0; i < CASES; i++) {
      const doc = new Y.Doc();
      Y.applyUpdate(doc, base);
      const before = stateOf(doc);
      const update = mutate(rand, updates[Math.floor(rand() * updates.length)] as Uint8Array, updates);
      let result: ReturnType<typeof applyChecked>;
      try {
        result = applyChecked(doc, update, null, MAX_PENDING);
      } catch (err) {
        throw new Error(`case ${i} threw (${(err as Error).message}): ${Buffer.from(update).toString('hex')}`);
      }
      if (result === 'applied') {
        tally.applied++;
        // Consistent: what it holds re-encodes and loads whole into a fresh document.
        const copy = new Y.Doc();
        Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
        expect(Buffer.from(Y.encodeStateVector(copy)), `case ${i}`).toEqual(Buffer.from(Y.encodeStateVector(doc)));
        expect(copy.getText('body').toString(), `case ${i}`).toBe(doc.getText('body').toString());
        expect(pendingBytes(doc), `case ${i}`).toBeLessThanOrEqual(MAX_PENDING);
      } else if (result === 'broken') {
        // Reported, so the document is discarded and reloaded: nothing to check in it.
        tally.broken++;
      } else {
        if (result === 'invalid') tally.invalid++;
        else tally.pending++;
        expect(stateOf(doc), `case ${i} (${result}) changed the document`).toBe(before);
      }
      doc.destroy();
    }
    // Every kind of outcome is exercised (the mutations are not all trivially refused).
    expect(tally.invalid).toBeGreaterThan(CASES / 10);
    expect(tally.applied).toBeGreaterThan(CASES / 20);
    console.log(`documents fuzz: ${JSON.stringify(tally)}`);
  });

  it('refuses updates whose dependencies never come once they would keep more than the cap waiting, and drops what waited', () => {
    const writer = new Y.Doc();
    writer.clientID = 7;
    const updates: Uint8Array[] = [];
    writer.on('update', (u: Uint8Array) => updates.push(u));
    for (let i = 0; i < 200; i++) writer.getText('body').insert(0, `line ${i} of text that waits for its first update\n`);
    const doc = new Y.Doc();
    const results = updates.slice(1).map((u) => applyChecked(doc, u, null, 4096));
    // Each waits for the first update, withheld: accepted while the buffer is small, then refused and emptied.
    expect(results.slice(0, 3)).toEqual(['applied', 'applied', 'applied']);
    expect(results).toContain('pending-over-cap');
    expect(pendingBytes(doc)).toBeLessThanOrEqual(4096);
    expect(doc.getText('body').toString()).toBe('');
  });
});
