import { mergeInChunks } from '@switchboard/server/testing';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

/**
 * Updates merged for the peers and the log take at most 64 per merge (Yjs's merge costs the
 * square of its inputs): a usual turn is one merge, a large one several, and applying the
 * results in order gives the same document as applying every update.
 */
describe('merging updates in chunks', () => {
  const updates = (n: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let c = 0; c < 5; c++) {
      const doc = new Y.Doc();
      doc.on('update', (u: Uint8Array) => out.push(u));
      for (let i = 0; i < n / 5; i++) doc.getText('t').insert(0, `${c}-${i};`);
    }
    return out;
  };
  const text = (parts: Uint8Array[]) => {
    const doc = new Y.Doc();
    for (const p of parts) Y.applyUpdate(doc, p);
    return doc.getText('t').toString();
  };

  it('gives one update for a turn of up to 64, several for more, and the same document', () => {
    const few = updates(40);
    expect(mergeInChunks(few)).toHaveLength(1);
    expect(text(mergeInChunks(few))).toBe(text(few));
    const many = updates(1000);
    const merged = mergeInChunks(many);
    expect(merged).toHaveLength(Math.ceil(1000 / 64));
    expect(text(merged)).toBe(text(many));
    const one = updates(5).slice(0, 1);
    expect(mergeInChunks(one)[0]).toBe(one[0]);
  });
});
