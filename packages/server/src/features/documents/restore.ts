import * as Y from 'yjs';
import { isEmptyRoot, type RootKind, rootKind } from './json.js';

/** A root type exists in both with different kinds (a map here, text there): the version cannot be put back. */
export class RestoreConflict extends Error {}

const copy = (v: unknown): unknown => (v instanceof Y.AbstractType ? v.clone() : v);

/**
 * Make `doc` hold what `version` (a whole-state Yjs update) holds, as one new change in
 * `doc` (never a rewrite of its history): every root type's content is replaced by a copy
 * of the version's (map keys set and removed, text with its formatting, arrays and XML
 * with their nested types cloned). Clients receive it like any change, edits made after
 * it apply on top, and restoring another version undoes it.
 */
export function restoreInto(doc: Y.Doc, version: Uint8Array, origin: unknown): void {
  const old = new Y.Doc();
  try {
    Y.applyUpdate(old, version);
    const kinds = new Map<string, RootKind>();
    for (const name of new Set([...doc.share.keys(), ...old.share.keys()])) {
      const inOld = old.share.has(name) ? rootKind(old, name) : null;
      const inDoc = doc.share.has(name) ? rootKind(doc, name) : null;
      if (inOld && inDoc && inOld !== inDoc && !isEmptyRoot(doc, name)) throw new RestoreConflict(`"${name}" is a ${inDoc} now and a ${inOld} in the version`);
      kinds.set(name, (inOld ?? inDoc) as RootKind);
    }
    doc.transact(() => {
      for (const [name, kind] of kinds) {
        const present = old.share.has(name);
        if (kind === 'map') {
          const target = doc.getMap<unknown>(name);
          const source = present ? old.getMap<unknown>(name) : null;
          for (const key of [...target.keys()]) if (!source?.has(key)) target.delete(key);
          if (source) for (const [key, value] of source.entries()) target.set(key, copy(value));
        } else if (kind === 'text') {
          const target = doc.getText(name);
          target.delete(0, target.length);
          if (present) target.applyDelta(old.getText(name).toDelta());
        } else if (kind === 'xml') {
          const target = doc.getXmlFragment(name);
          target.delete(0, target.length);
          if (present)
            target.insert(
              0,
              old
                .getXmlFragment(name)
                .toArray()
                .map((n) => n.clone() as Y.XmlElement | Y.XmlText),
            );
        } else {
          const target = doc.getArray<unknown>(name);
          target.delete(0, target.length);
          if (present) target.insert(0, old.getArray<unknown>(name).toArray().map(copy));
        }
      }
    }, origin);
  } finally {
    old.destroy();
  }
}
