import * as Y from 'yjs';

/** Fold a log into a snapshot through a fresh document: one update, collected (GC) like the live one. */
export function mergeSnapshot(snapshot: Uint8Array, updates: Uint8Array[]): Uint8Array {
  const doc = new Y.Doc({ gc: true });
  try {
    if (snapshot.byteLength > 0) Y.applyUpdate(doc, snapshot);
    for (const u of updates) Y.applyUpdate(doc, u);
    return wholeState(doc);
  } finally {
    doc.destroy();
  }
}

/** A document's whole state as one update, with the structs still waiting for what they depend on (a fold keeps them, never drops them). */
export function wholeState(doc: Y.Doc): Uint8Array {
  const parts = [Y.encodeStateAsUpdate(doc)];
  const pending = doc.store.pendingStructs;
  if (pending) parts.push(pending.update);
  if (doc.store.pendingDs) parts.push(doc.store.pendingDs);
  return parts.length === 1 ? (parts[0] as Uint8Array) : Y.mergeUpdates(parts);
}

/** Most updates merged into one: Yjs's merge sorts all of its inputs at every step, so its cost grows with their square. */
const MERGE_CHUNK = 64;

/** Updates merged in order, at most `MERGE_CHUNK` into each result (one result for a usual turn or write). */
export function mergeInChunks(updates: readonly Uint8Array[]): Uint8Array[] {
  if (updates.length === 1) return [updates[0] as Uint8Array];
  const out: Uint8Array[] = [];
  for (let i = 0; i < updates.length; i += MERGE_CHUNK) {
    const chunk = updates.slice(i, i + MERGE_CHUNK);
    out.push(chunk.length === 1 ? (chunk[0] as Uint8Array) : Y.mergeUpdates(chunk));
  }
  return out;
}
