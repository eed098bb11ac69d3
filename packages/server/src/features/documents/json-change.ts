import type * as Y from 'yjs';
import { z } from 'zod';
import { isEmptyRoot, type RootKind, rootKind } from './json.js';

const root = z.string().min(1).max(256).describe('the root type, e.g. fields or body');
const index = z.number().int().min(0);
// Any JSON value (the body is parsed JSON); present, so a missing `value` is refused rather than stored as undefined.
const jsonValue = z
  .unknown()
  .refine((v) => v !== undefined, 'a JSON value')
  .describe('any JSON value, stored as plain content (not a nested Yjs type)');

/**
 * One operation of a JSON change. A root type is named as the app's code names it
 * (`getMap('fields')`); a root that does not exist yet is made of the operation's kind.
 */
export const jsonChangeOp = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('map.set'), root, key: z.string().max(1024), value: jsonValue }),
  z.strictObject({ op: z.literal('map.delete'), root, key: z.string().max(1024) }),
  z.strictObject({ op: z.literal('text.insert'), root, index: index.optional().describe('where (default: the end)'), text: z.string() }),
  z.strictObject({ op: z.literal('text.delete'), root, index, length: index }),
  z.strictObject({ op: z.literal('text.replace'), root, text: z.string().describe('the whole new text (formatting dropped)') }),
  z.strictObject({ op: z.literal('array.insert'), root, index: index.optional().describe('where (default: the end)'), values: z.array(jsonValue).min(1) }),
  z.strictObject({ op: z.literal('array.delete'), root, index, length: index }),
]);
export type JsonChangeOp = z.infer<typeof jsonChangeOp>;

/** The change cannot apply: a root of another kind, or a position beyond its content. Nothing was changed. */
export class JsonChangeRefused extends Error {
  constructor(
    message: string,
    readonly conflict: boolean,
  ) {
    super(message);
  }
}

const kindOf = (op: JsonChangeOp['op']): RootKind => op.slice(0, op.indexOf('.')) as RootKind;

/**
 * Apply a list of JSON operations to `doc` as one change (one Yjs transaction, so clients
 * receive one update and the log stores one). Every operation is checked against the
 * document before anything changes: a root of another kind (409) or a position beyond the
 * content (422) refuses the whole change.
 */
export function applyJsonChange(doc: Y.Doc, ops: readonly JsonChangeOp[], origin: unknown): void {
  const lengths = new Map<string, number>();
  const lengthOf = (name: string, kind: RootKind): number => {
    const known = lengths.get(name);
    if (known !== undefined) return known;
    const n = !doc.share.has(name) ? 0 : kind === 'text' ? doc.getText(name).length : kind === 'array' ? doc.getArray(name).length : 0;
    lengths.set(name, n);
    return n;
  };
  const kinds = new Map<string, RootKind>();
  for (const op of ops) {
    const kind = kindOf(op.op);
    const existing = kinds.get(op.root) ?? (doc.share.has(op.root) && !isEmptyRoot(doc, op.root) ? rootKind(doc, op.root) : null);
    if (existing !== null && existing !== kind) throw new JsonChangeRefused(`"${op.root}" is a ${existing}, not a ${kind}`, true);
    kinds.set(op.root, kind);
    if (kind === 'map') continue;
    const length = lengthOf(op.root, kind);
    // Positions are checked as the operations will find them, one after the other.
    if (op.op === 'text.insert' || op.op === 'array.insert') {
      if ((op.index ?? length) > length) throw new JsonChangeRefused(`"${op.root}": index ${op.index} beyond its length ${length}`, false);
      lengths.set(op.root, length + (op.op === 'text.insert' ? op.text.length : op.values.length));
    } else if (op.op === 'text.delete' || op.op === 'array.delete') {
      if (op.index + op.length > length) throw new JsonChangeRefused(`"${op.root}": ${op.length} from ${op.index} beyond its length ${length}`, false);
      lengths.set(op.root, length - op.length);
    } else if (op.op === 'text.replace') lengths.set(op.root, op.text.length);
  }
  doc.transact(() => {
    for (const op of ops) {
      switch (op.op) {
        case 'map.set':
          doc.getMap<unknown>(op.root).set(op.key, op.value);
          break;
        case 'map.delete':
          doc.getMap<unknown>(op.root).delete(op.key);
          break;
        case 'text.insert': {
          const text = doc.getText(op.root);
          text.insert(op.index ?? text.length, op.text);
          break;
        }
        case 'text.delete':
          doc.getText(op.root).delete(op.index, op.length);
          break;
        case 'text.replace': {
          const text = doc.getText(op.root);
          text.delete(0, text.length);
          text.insert(0, op.text);
          break;
        }
        case 'array.insert': {
          const array = doc.getArray<unknown>(op.root);
          array.insert(op.index ?? array.length, op.values);
          break;
        }
        case 'array.delete':
          doc.getArray<unknown>(op.root).delete(op.index, op.length);
          break;
      }
    }
  }, origin);
}
