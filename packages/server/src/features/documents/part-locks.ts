import * as Y from 'yjs';
import { rootKind } from './json.js';
import type { DecodedUpdate } from './update-check.js';

/** What documents need of the lock service (`ctx.feature('locks')`): who holds which key of a channel, and every grant and release. */
export interface LockService {
  list(tenant: string, channel: string): Promise<ReadonlyArray<{ key: string; holder: { user: string } }>>;
  on(
    listener: (event: { type: 'acquired' | 'released'; tenant: string; channel: string; lock: { key: string; holder: { user: string } } }) => void,
  ): () => void;
}

/** Structs of an update placed one by one; beyond, it counts as touching every locked part. */
const MAX_STRUCTS = 2000;

/**
 * Locks on parts of a document: a namespace's `lockedParts` maps a lock-key prefix to a root
 * map (`{ field: 'fields' }`), so a lock on `field:email` (taken through the lock service on
 * the document's channel) guards the key `email` of the root map `fields`, with everything
 * nested under it. While a user holds it, an update from anyone else that sets, deletes or
 * changes content under that key is refused whole (the document takes it back at once).
 */
export class PartLocks {
  /** Root map name → lock-key prefix. */
  readonly #maps: Map<string, string>;
  /** Held lock keys of this document's parts → the holder's user. */
  readonly #held = new Map<string, string>();

  constructor(lockedParts: Readonly<Record<string, string>>) {
    this.#maps = new Map(Object.entries(lockedParts).map(([prefix, map]) => [map, prefix]));
  }

  get size(): number {
    return this.#held.size;
  }

  /** Whether a lock key names a part of this document (`field:email` with `field` declared). */
  guards(key: string): boolean {
    const colon = key.indexOf(':');
    return colon > 0 && [...this.#maps.values()].includes(key.slice(0, colon));
  }

  set(key: string, user: string | null): void {
    if (!this.guards(key)) return;
    if (user === null) this.#held.delete(key);
    else this.#held.set(key, user);
  }

  /** Every held lock at once (what the lock service lists). */
  reset(locks: ReadonlyArray<{ key: string; user: string }>): void {
    this.#held.clear();
    for (const l of locks) this.set(l.key, l.user);
  }

  /**
   * The first locked part `update` touches that `user` does not hold (null: none). An
   * update whose place in the document cannot be told (it depends on content this document
   * lacks) counts as touching every locked part: it waits for nothing while a part is locked.
   */
  blocked(doc: Y.Doc, update: Uint8Array, user: string | null, decoded?: DecodedUpdate): string | null {
    if (this.#held.size === 0) return null;
    let touched: Set<string> | null;
    try {
      touched = this.#touched(doc, decoded ?? Y.decodeUpdate(update));
    } catch {
      touched = null;
    }
    for (const [key, holder] of this.#held) {
      if (holder === user) continue;
      if (touched === null || touched.has(key)) return key;
    }
    return null;
  }

  /** Lock keys of the parts an update sets, deletes or changes content under; null when it cannot be told. */
  #touched(doc: Y.Doc, { structs, ds }: DecodedUpdate): Set<string> | null {
    // Placing each struct is linear in the update's own structs: a larger update is not looked into.
    if (structs.length > MAX_STRUCTS) return null;
    const own = new Map<string, Y.Item>();
    for (const s of structs) if (s instanceof Y.Item) own.set(`${s.id.client}:${s.id.clock}`, s);
    const out = new Set<string>();
    let unknown = false;
    const note = (part: string | null | undefined) => {
      if (part === undefined) unknown = true;
      else if (part !== null) out.add(part);
    };
    for (const s of structs) if (s instanceof Y.Item) note(this.#partOfNew(doc, s, own, 0));
    for (const [client, ranges] of ds.clients) {
      const state = Y.getState(doc.store, client);
      const structs = doc.store.clients.get(client) ?? [];
      const ownOfClient = [...own.values()].filter((s) => s.id.client === client).sort((x, y) => x.id.clock - y.id.clock);
      for (const range of ranges) {
        const end = range.clock + range.len;
        // What the document holds of the range: structs side by side from 0 to its state.
        for (let clock = range.clock; clock < Math.min(end, state); ) {
          const struct = structs[Y.findIndexSS(structs, clock)] as Y.Item | Y.GC;
          if (struct instanceof Y.Item) note(this.#partOfIntegrated(struct));
          clock = struct.id.clock + struct.length;
        }
        // What the update itself adds and deletes at once; a deletion of content neither has changes nothing.
        for (const item of ownOfClient) if (item.id.clock < end && item.id.clock + item.length > range.clock) note(this.#partOfNew(doc, item, own, 0));
      }
    }
    return unknown ? null : out;
  }

  /** The item holding `clock` of `client`: in the document (integrated) or in the update; null when neither has it. */
  #find(doc: Y.Doc, own: Map<string, Y.Item>, client: number, clock: number): { item: Y.Item; integrated: boolean } | null {
    if (clock < Y.getState(doc.store, client)) {
      const struct = doc.store.clients.get(client)?.[Y.findIndexSS(doc.store.clients.get(client) as Array<Y.Item | Y.GC>, clock)];
      return struct instanceof Y.Item ? { item: struct, integrated: true } : null;
    }
    for (const s of own.values()) if (s.id.client === client && s.id.clock <= clock && clock < s.id.clock + s.length) return { item: s, integrated: false };
    return null;
  }

  /** The guarded part of an item in the document (null: none), found by walking up to the root. */
  #partOfIntegrated(item: Y.Item): string | null {
    let it: Y.Item = item;
    for (;;) {
      const parent = it.parent as Y.AbstractType<unknown>;
      if (parent._item === null) {
        const name = Y.findRootTypeKey(parent);
        return this.#part(name, it.parentSub);
      }
      it = parent._item;
    }
  }

  /** The guarded part of an item of the update (null: none; undefined: cannot be told). */
  #partOfNew(doc: Y.Doc, s: Y.Item, own: Map<string, Y.Item>, depth: number): string | null | undefined {
    if (depth > 1000) return undefined;
    const parent = s.parent as unknown;
    if (typeof parent === 'string') return this.#part(parent, s.parentSub);
    // Nested under a type (its item's id), or placed next to an origin that shares its parent and key.
    const ref = parent instanceof Y.ID ? parent : (s.origin ?? s.rightOrigin);
    if (!(ref instanceof Y.ID)) return undefined;
    const found = this.#find(doc, own, ref.client, ref.clock);
    if (found === null) return undefined;
    if (parent instanceof Y.ID) {
      // The content of the type at `ref`: its part is that item's.
      return found.integrated ? this.#partOfIntegrated(found.item) : this.#partOfNew(doc, found.item, own, depth + 1);
    }
    if (found.integrated) {
      const p = found.item.parent as Y.AbstractType<unknown>;
      if (p._item === null) return this.#part(Y.findRootTypeKey(p), found.item.parentSub);
      return this.#partOfIntegrated(p._item);
    }
    return this.#partOfNew(doc, found.item, own, depth + 1);
  }

  #part(map: string, key: string | null): string | null {
    const prefix = this.#maps.get(map);
    return prefix === undefined || key === null ? null : `${prefix}:${key}`;
  }
}

/** Every root type of `doc`, typed by what it holds (an undo follows only typed roots); the guarded maps as maps. */
export function typedRoots(doc: Y.Doc, lockedParts: Readonly<Record<string, string>> | null): ConstructorParameters<typeof Y.UndoManager>[0] {
  for (const map of Object.values(lockedParts ?? {})) {
    try {
      doc.getMap(map);
    } catch {
      // Already another kind: typed below like any other root.
    }
  }
  for (const name of [...doc.share.keys()]) rootKind(doc, name);
  return [...doc.share.values()];
}
