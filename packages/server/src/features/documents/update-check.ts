import * as Y from 'yjs';

/**
 * What a client's update came to: applied; refused with nothing changed ('invalid',
 * 'pending-over-cap'); or 'broken': it passed every check and still failed halfway
 * through Yjs's integration, so the document may hold part of it and must be discarded.
 */
/** An update decoded whole (`Y.decodeUpdate`): made once when a caller also looks into it. */
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>;

export type CheckedApply = 'applied' | 'invalid' | 'pending-over-cap' | 'broken';

/**
 * Apply a client's Yjs update only if it is well-formed, leaving the document as it was
 * otherwise. The update is decoded whole first (structs and delete set: a truncated or
 * garbled one fails here, before anything is integrated). Structs whose dependencies the
 * document lacks wait in its pending buffer (Yjs applies them once they arrive); a buffer
 * grown past `maxPending` bytes is dropped and the update refused, so a client cannot make
 * a document hold unapplied data forever. `decoded` is the update already decoded, if it was.
 */
export function applyChecked(doc: Y.Doc, update: Uint8Array, origin: unknown, maxPending: number, decoded?: DecodedUpdate): CheckedApply {
  try {
    const { ds } = decoded ?? Y.decodeUpdate(update);
    // A deletion range of no length decodes, then breaks the apply halfway (after the structs went in).
    for (const items of ds.clients.values()) for (const item of items) if (!(item.len > 0)) return 'invalid';
  } catch {
    return 'invalid';
  }
  try {
    Y.applyUpdate(doc, update, origin);
  } catch {
    return 'broken';
  }
  if (pendingBytes(doc) > maxPending) {
    doc.store.pendingStructs = null;
    doc.store.pendingDs = null;
    return 'pending-over-cap';
  }
  return 'applied';
}

/** Bytes waiting in a document's pending buffers (structs and deletions whose dependencies it lacks). */
export function pendingBytes(doc: Y.Doc): number {
  return (doc.store.pendingStructs?.update.byteLength ?? 0) + (doc.store.pendingDs?.byteLength ?? 0);
}
