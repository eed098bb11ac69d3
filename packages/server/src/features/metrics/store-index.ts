/**
 * The stores held, found by tenant, series and label set without building the label set's
 * canonical key: a tree of small maps walked along the label set's keys in sorted order (key,
 * then value, per label). A row of an ingest batch has its own labels object, so its key
 * string would be built, flattened and hashed whole for every point, then compared with a
 * long key in a map of every store; here each step hashes one short string in a map of the
 * values of one label. Two label sets find the same entry exactly when `canonicalLabels`
 * makes the same string of them (the same keys, the same values).
 */

interface Node<T> {
  value: T | undefined;
  /** Label key → label value → the node below. */
  next: Map<string, Map<string, Node<T>>> | undefined;
}

/** The label keys of a set in sorted order (the same order `canonicalLabels` uses), in a reused array. */
const scratch: string[] = [];

function sortedKeys(labels: Readonly<Record<string, string>>): string[] {
  scratch.length = 0;
  let sorted = true;
  for (const k in labels) {
    if (!Object.hasOwn(labels, k)) continue;
    if (scratch.length > 0 && (scratch[scratch.length - 1] as string) > k) sorted = false;
    scratch.push(k);
  }
  if (!sorted) scratch.sort();
  return scratch;
}

const leaf = <T>(): Node<T> => ({ value: undefined, next: undefined });

export class StoreIndex<T> {
  /** Tenant → series → the node of the empty label set. */
  readonly #roots = new Map<string, Map<string, Node<T>>>();

  /** Nothing held (every entry deleted, and the maps on their paths with them). */
  get empty(): boolean {
    return this.#roots.size === 0;
  }

  get(tenant: string, series: string, labels: Readonly<Record<string, string>>): T | undefined {
    let node = this.#roots.get(tenant)?.get(series);
    if (node === undefined) return undefined;
    const keys = sortedKeys(labels);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      node = node.next?.get(k)?.get(labels[k] as string);
      if (node === undefined) return undefined;
    }
    return node.value;
  }

  set(tenant: string, series: string, labels: Readonly<Record<string, string>>, value: T): void {
    let bySeries = this.#roots.get(tenant);
    if (bySeries === undefined) {
      bySeries = new Map();
      this.#roots.set(tenant, bySeries);
    }
    let node = bySeries.get(series);
    if (node === undefined) {
      node = leaf();
      bySeries.set(series, node);
    }
    for (const k of sortedKeys(labels)) {
      node.next ??= new Map();
      let byValue = node.next.get(k);
      if (byValue === undefined) {
        byValue = new Map();
        node.next.set(k, byValue);
      }
      const v = labels[k] as string;
      let below = byValue.get(v);
      if (below === undefined) {
        below = leaf();
        byValue.set(v, below);
      }
      node = below;
    }
    node.value = value;
  }

  /** Removes the entry of a label set, and the maps left empty on its path. */
  delete(tenant: string, series: string, labels: Readonly<Record<string, string>>): void {
    const bySeries = this.#roots.get(tenant);
    const root = bySeries?.get(series);
    if (bySeries === undefined || root === undefined) return;
    const keys = [...sortedKeys(labels)];
    const path: Node<T>[] = [root];
    let node: Node<T> | undefined = root;
    for (const k of keys) {
      node = node.next?.get(k)?.get(labels[k] as string);
      if (node === undefined) return;
      path.push(node);
    }
    node.value = undefined;
    // Bottom up: a node with no value and nothing below is dropped from its parent's maps.
    for (let i = keys.length; i > 0; i--) {
      const child = path[i] as Node<T>;
      if (child.value !== undefined || child.next !== undefined) return;
      const parent = path[i - 1] as Node<T>;
      const k = keys[i - 1] as string;
      const byValue = parent.next?.get(k);
      byValue?.delete(labels[k] as string);
      if (byValue?.size === 0) parent.next?.delete(k);
      if (parent.next?.size === 0) parent.next = undefined;
    }
    if (root.value === undefined && root.next === undefined) {
      bySeries.delete(series);
      if (bySeries.size === 0) this.#roots.delete(tenant);
    }
  }
}
