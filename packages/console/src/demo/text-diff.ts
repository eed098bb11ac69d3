/**
 * The two small pieces of arithmetic a plain `<textarea>` needs to edit a shared `Y.Text`:
 * what one local edit changed (one range: the browser's input events insert, delete or
 * replace one), and where a caret goes when someone else's change lands (pure, no DOM).
 */

/** One local edit: at `index`, `remove` characters were taken out and `insert` put in. */
export interface TextChange {
  index: number;
  remove: number;
  insert: string;
}

/** The one changed range between two texts (common prefix and suffix kept), or null when they are equal. */
export function changeBetween(before: string, after: string): TextChange | null {
  if (before === after) return null;
  const max = Math.min(before.length, after.length);
  let start = 0;
  while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  let end = 0;
  while (end < max - start && before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)) end++;
  // A change never splits a surrogate pair: widen the range to whole characters on both sides.
  if (start > 0 && isHighSurrogate(before.charCodeAt(start - 1))) start--;
  if (end > 0 && isLowSurrogate(before.charCodeAt(before.length - end))) end--;
  return { index: start, remove: before.length - start - end, insert: after.slice(start, after.length - end) };
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** One operation of a Yjs text delta (`Y.YTextEvent.delta`): text inserted, kept or deleted. */
export interface DeltaOp {
  insert?: unknown;
  retain?: number;
  delete?: number;
}

/**
 * Where position `pos` of the text before a remote change is after it: text inserted before
 * it pushes it right (at it, it stays: the other's insert goes after this caret), text
 * deleted before it pulls it left, and a deletion around it leaves it where the deletion was.
 */
export function shiftPosition(pos: number, delta: readonly DeltaOp[]): number {
  let index = 0;
  let moved = pos;
  for (const op of delta) {
    if (index > pos) break;
    if (op.retain !== undefined) index += op.retain;
    else if (op.insert !== undefined) {
      const length = typeof op.insert === 'string' ? op.insert.length : 1;
      if (index < pos) moved += length;
    } else if (op.delete !== undefined) {
      if (index < pos) moved -= Math.min(op.delete, pos - index);
      index += op.delete;
    }
  }
  return moved;
}

/** 1-based line and column of `index` in `text`, as a person reads a caret position. */
export function lineAndColumn(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(index, text.length)));
  const lastBreak = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: before.length - lastBreak };
}
