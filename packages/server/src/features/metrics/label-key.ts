/** The labels of a point that names none: one shared object, so its canonical key is found once. */
export const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** Canonical strings of label sets already seen (held stores, subscriptions, a columnar block's one labels object). */
const labelKeys = new WeakMap<object, string>();

/**
 * A label set as one canonical string: its [key, value] pairs sorted by key, as JSON
 * (`[["host","h1"],["route","/"]]`; no labels: `[]`). Built without intermediate arrays; the
 * keys are sorted only when they are not in order already (the usual case).
 */
export function canonicalLabels(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels);
  const n = keys.length;
  if (n === 0) return '[]';
  for (let i = 1; i < n; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      keys.sort();
      break;
    }
  }
  let out = '[';
  for (let i = 0; i < n; i++) {
    const k = keys[i] as string;
    out += `${i === 0 ? '' : ','}[${JSON.stringify(k)},${JSON.stringify(labels[k])}]`;
  }
  return `${out}]`;
}

/** `canonicalLabels`, remembered per labels object: for objects that are looked up again (held stores, subscriptions). */
export function labelSetKey(labels: Readonly<Record<string, string>>): string {
  if (labels === NO_LABELS) return '[]';
  let key = labelKeys.get(labels);
  if (key === undefined) {
    key = canonicalLabels(labels);
    labelKeys.set(labels, key);
  }
  return key;
}
