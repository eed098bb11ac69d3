import * as Y from 'yjs';

/**
 * A Yjs document as JSON, for apps that read it over HTTP. Root types of a document loaded
 * from its updates carry no type until the app's code names one (`getText`, `getMap`…),
 * so each is read by what it holds: keys → a map, text or formatting → text, XML
 * elements → XML (as its string), anything else → an array. Keys are copied as own
 * properties, so a key named `__proto__` is kept as data, never a prototype.
 */
export function documentJson(doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of [...doc.share.keys()].sort()) define(out, name, jsonOf(typed(doc, name)));
  return out;
}

/** What a root type holds, read as `documentJson` reads it. */
export type RootKind = 'map' | 'text' | 'xml' | 'array';

export function rootKind(doc: Y.Doc, name: string): RootKind {
  const t = typed(doc, name);
  if (t instanceof Y.Map) return 'map';
  if (t instanceof Y.Text) return 'text';
  if (t instanceof Y.XmlFragment) return 'xml';
  return 'array';
}

/** Whether a root type holds nothing (or does not exist): any kind may be made of it. */
export function isEmptyRoot(doc: Y.Doc, name: string): boolean {
  const r = doc.share.get(name) as { _map: Map<string, unknown>; _start: unknown } | undefined;
  return !r || (r._map.size === 0 && r._start === null);
}

function typed(doc: Y.Doc, name: string): unknown {
  // biome-ignore lint/suspicious/noExplicitAny: a root type before any getter named it
  const root = doc.share.get(name) as Y.AbstractType<any>;
  if (root instanceof Y.Map || root instanceof Y.Text || root instanceof Y.Array || root instanceof Y.XmlFragment) return root;
  if (root._map.size > 0) return doc.getMap(name);
  for (let item = root._start; item !== null; item = item.right) {
    const content = item.content;
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return doc.getText(name);
    if (content instanceof Y.ContentType && (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText)) return doc.getXmlFragment(name);
  }
  return doc.getArray(name);
}

function jsonOf(value: unknown): unknown {
  if (value instanceof Y.Map) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of value.entries()) define(out, key, jsonOf(v));
    return out;
  }
  if (value instanceof Y.Array) return value.toArray().map(jsonOf);
  if (value instanceof Y.XmlFragment || value instanceof Y.XmlElement || value instanceof Y.XmlText || value instanceof Y.Text) return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Y.Doc) return { guid: value.guid };
  if (value !== null && typeof value === 'object') return plain(value);
  return value;
}

/** Plain JSON content (from `ContentAny`), copied with own properties only. */
function plain(value: object): unknown {
  if (Array.isArray(value)) return value.map((v) => (v !== null && typeof v === 'object' ? plain(v) : v));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) define(out, k, v !== null && typeof v === 'object' ? plain(v) : v);
  return out;
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
