import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { changeBetween, type DeltaOp, lineAndColumn, shiftPosition } from '../src/demo/text-diff.js';

/** Apply a change as the note does: one delete and one insert on a Y.Text. */
function applied(before: string, after: string): string {
  const doc = new Y.Doc();
  const text = doc.getText('body');
  text.insert(0, before);
  const change = changeBetween(before, after);
  if (change) {
    text.delete(change.index, change.remove);
    text.insert(change.index, change.insert);
  }
  return text.toString();
}

/** The delta a remote change makes, as the note's observer receives it. */
function deltaOf(before: string, change: (t: Y.Text) => void): DeltaOp[] {
  const doc = new Y.Doc();
  const text = doc.getText('body');
  text.insert(0, before);
  let delta: DeltaOp[] = [];
  text.observe((e) => {
    delta = e.delta as DeltaOp[];
  });
  change(text);
  return delta;
}

describe("the shared note's text arithmetic", () => {
  it('finds the one changed range of an insert, a deletion and a replacement, and nothing for equal texts', () => {
    expect(changeBetween('hello', 'hello')).toBeNull();
    expect(changeBetween('hello', 'help lo')).toEqual({ index: 3, remove: 0, insert: 'p ' });
    expect(changeBetween('hello world', 'hello')).toEqual({ index: 5, remove: 6, insert: '' });
    expect(changeBetween('abcdef', 'abXYef')).toEqual({ index: 2, remove: 2, insert: 'XY' });
    expect(changeBetween('', 'new')).toEqual({ index: 0, remove: 0, insert: 'new' });
    // A repeated letter: the shortest range, the text right either way.
    expect(changeBetween('aaa', 'aaaa')).toEqual({ index: 3, remove: 0, insert: 'a' });
    for (const [before, after] of [
      ['hello', 'help lo'],
      ['abcdef', 'abXYef'],
      ['x', ''],
      ['😀a', '😁a'],
      ['a😀', 'a😀😀'],
    ] as const)
      expect(applied(before, after)).toBe(after);
  });

  it('never splits a surrogate pair: an emoji changed for another is replaced whole', () => {
    // 😀 and 😁 share their first UTF-16 unit.
    expect(changeBetween('😀', '😁')).toEqual({ index: 0, remove: 2, insert: '😁' });
    expect(changeBetween('x😀y', 'x😁y')).toEqual({ index: 1, remove: 2, insert: '😁' });
  });

  it('moves a caret by a remote change before it, and leaves it for a change after it or at it', () => {
    const text = 'Hello world';
    const insertBefore = deltaOf(text, (t) => t.insert(0, '>> '));
    expect(shiftPosition(5, insertBefore)).toBe(8);
    expect(shiftPosition(0, insertBefore)).toBe(0);
    const insertAfter = deltaOf(text, (t) => t.insert(11, '!'));
    expect(shiftPosition(5, insertAfter)).toBe(5);
    const deleteBefore = deltaOf(text, (t) => t.delete(0, 6));
    expect(shiftPosition(8, deleteBefore)).toBe(2);
    // A deletion around the caret leaves it where the deletion was.
    const deleteAround = deltaOf(text, (t) => t.delete(3, 5));
    expect(shiftPosition(5, deleteAround)).toBe(3);
    expect(shiftPosition(10, deleteAround)).toBe(5);
  });

  it('reads a position as 1-based line and column', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\ncd', 2)).toEqual({ line: 1, column: 3 });
    expect(lineAndColumn('ab\ncd', 3)).toEqual({ line: 2, column: 1 });
    expect(lineAndColumn('ab\ncd', 99)).toEqual({ line: 2, column: 3 });
  });
});
