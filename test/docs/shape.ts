/**
 * Documented samples against real values. A JSON sample may leave values out with `…`:
 * `{…}` or a bare `…` value is any value, `,…}` more members, `,…]` more items; strings
 * are compared by type only (`"Qm9v…"` is any string), as are numbers and booleans. A text
 * sample (what a command prints) matches line by line, with any number where the sample
 * has a number, anything where it has `…`, and any lines where a line holds only `...` or `…`.
 */

const ANY = '\u0000any';
const MORE = '\u0000more';

export function parseJsonSample(text: string): unknown {
  const prepared = text
    .replace(/\{…\}/g, JSON.stringify(ANY))
    .replace(/,\s*…\s*\}/g, `,${JSON.stringify(MORE)}:true}`)
    .replace(/,\s*…\s*\]/g, `,${JSON.stringify(MORE)}]`)
    .replace(/([:[,]\s*)…(?=\s*[,}\]])/g, `$1${JSON.stringify(ANY)}`);
  return JSON.parse(prepared);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Where `actual` differs from the sample's shape (empty when it matches). */
export function matchJsonSample(sample: unknown, actual: unknown, path = '$'): string[] {
  if (sample === ANY) return [];
  if (kind(sample) !== kind(actual)) return [`${path}: documented as ${kind(sample)}, is ${kind(actual)} (${JSON.stringify(actual)?.slice(0, 80)})`];
  if (Array.isArray(sample)) {
    const items = sample.filter((item) => item !== MORE);
    const real = actual as unknown[];
    if (real.length < items.length) return [`${path}: documented with ${items.length} items, has ${real.length}`];
    return items.flatMap((item, i) => matchJsonSample(item, real[i], `${path}[${i}]`));
  }
  if (kind(sample) === 'object') {
    const doc = sample as Record<string, unknown>;
    const real = actual as Record<string, unknown>;
    const problems: string[] = [];
    for (const [key, value] of Object.entries(doc)) {
      if (key === MORE) continue;
      if (!Object.hasOwn(real, key)) problems.push(`${path}.${key}: documented, missing`);
      else problems.push(...matchJsonSample(value, real[key], `${path}.${key}`));
    }
    if (!Object.hasOwn(doc, MORE)) for (const key of Object.keys(real)) if (!Object.hasOwn(doc, key)) problems.push(`${path}.${key}: present, not documented`);
    return problems;
  }
  return [];
}

const NUMBER = /^\d[\d,]*(?:\.\d+)?$/;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A literal piece of a line: numbers are any number, words of one group of `equivalents` any of them. */
function literal(text: string, equivalents: readonly string[][]): string {
  return text
    .split(/(\d[\d,]*(?:\.\d+)?)/)
    .map((part) => {
      if (NUMBER.test(part)) return '\\d[\\d,]*(?:\\.\\d+)?';
      const group = equivalents.find((g) => g.includes(part));
      return group ? `(?:${group.join('|')})` : escapeRegExp(part);
    })
    .join('');
}

/**
 * A documented line as a pattern: a lone `…` is anything; a word with `…` in it is an
 * example (`3f2a…`, `eyJhbGciOi…`): any word ending like it; spaces are any spaces.
 */
function linePattern(line: string, equivalents: readonly string[][]): RegExp {
  const words = line
    .trim()
    .split(/\s+/)
    .map((word) => {
      if (word === '…') return '.*?';
      if (!word.includes('…')) return literal(word, equivalents);
      return `\\S*?${literal(word.slice(word.lastIndexOf('…') + 1), equivalents)}`;
    });
  return new RegExp(`^${words.join('\\s+')}$`);
}

/** Where a command's real output differs from its documented sample (empty when it matches). */
export function matchTextSample(sample: string, actual: string, equivalents: readonly string[][] = []): string[] {
  const doc = sample.split('\n').map((l) => l.trimEnd());
  const real = actual.split('\n').map((l) => l.trimEnd());
  while (doc.at(-1) === '') doc.pop();
  while (real.at(-1) === '') real.pop();
  let r = 0;
  for (let d = 0; d < doc.length; d++) {
    const line = doc[d] as string;
    if (line.trim() === '...' || line.trim() === '…') {
      const next = doc[d + 1];
      if (next === undefined) return [];
      const pattern = linePattern(next, equivalents);
      while (r < real.length && !pattern.test((real[r] as string).trim())) r++;
      continue;
    }
    const got = real[r];
    if (got === undefined) return [`documented line ${d + 1} "${line}" has no counterpart: the output ended`];
    if (line.trim() === '' ? got.trim() !== '' : !linePattern(line, equivalents).test(got.trim())) {
      return [`documented line ${d + 1}:\n  "${line}"\nprinted:\n  "${got}"`];
    }
    r++;
  }
  if (r < real.length) return [`the output goes on where the sample ends: "${real[r]}"`];
  return [];
}
