/**
 * Full-text search of activities. The server turns text into words once, here, for both
 * stores: lower case, compatibility-decomposed, marks (accents) removed, split at every
 * character that is not a letter or a digit. SQLite (FTS5, `ascii` tokenizer) and
 * PostgreSQL (`array_to_tsvector`) index these words as they are, so neither store's own
 * parser, stemmer or locale decides what matches, and both answer the same.
 *
 * A query is words too: every word must match, the last one as a prefix. A query is never
 * passed to MATCH or tsquery as written: it is rebuilt from its words, each quoted.
 */

/** Longest word kept (longer ones are cut, in the index and in queries alike). */
const MAX_WORD = 64;
/** Characters of words indexed per activity (distinct words, in order of appearance). */
export const MAX_SEARCH_TEXT = 16_384;
/** Longest `q`, in characters. */
export const MAX_QUERY = 200;

const MARKS = /\p{M}+/gu;
const SEPARATORS = /[^\p{L}\p{N}]+/u;

/** The words of a text, normalised as the index stores them. */
export function words(text: string): string[] {
  const folded = text.toLowerCase().normalize('NFKD').replace(MARKS, '').toLowerCase();
  return folded
    .split(SEPARATORS)
    .filter((w) => w !== '')
    .map((w) => (w.length > MAX_WORD ? [...w].slice(0, MAX_WORD).join('') : w));
}

/** Every string value inside a JSON value (object keys, numbers and booleans are not text). */
function strings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) strings(v, out);
}

/** What an activity is found by: verb, actor, object, target, the grouped objects and the strings in `data`. */
export interface Searchable {
  verb: string;
  actor: string;
  object: string | null;
  target: string | null;
  objects: readonly string[];
  data: unknown;
}

/** The indexed text of an activity: its distinct words, space-separated, at most MAX_SEARCH_TEXT characters. */
export function searchText(a: Searchable): string {
  const texts = [a.verb, a.actor, a.object ?? '', a.target ?? '', ...a.objects];
  strings(a.data, texts);
  const seen = new Set<string>();
  let length = 0;
  for (const text of texts) {
    for (const w of words(text)) {
      if (seen.has(w)) continue;
      if (length + w.length + 1 > MAX_SEARCH_TEXT) return [...seen].join(' ');
      seen.add(w);
      length += w.length + 1;
    }
  }
  return [...seen].join(' ');
}

/** An FTS5 MATCH expression: each word a quoted string, ANDed, the last a prefix. */
export function ftsMatch(terms: readonly string[]): string {
  return terms.map((t, i) => `"${t.replaceAll('"', '""')}"${i === terms.length - 1 ? '*' : ''}`).join(' ');
}

/** A tsquery: each word a quoted lexeme, ANDed, the last a prefix. */
export function tsQuery(terms: readonly string[]): string {
  return terms.map((t, i) => `'${t.replaceAll('\\', '\\\\').replaceAll("'", "''")}'${i === terms.length - 1 ? ':*' : ''}`).join(' & ');
}
