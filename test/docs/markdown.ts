import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

/**
 * How a block that is not run is marked, on the line before its fence:
 * `<!-- doc-test: <kind> [<check>] [— why] -->`. Kinds of blocks that are not code to run:
 */
export const NOT_RUN_KINDS = {
  /** What a command prints. */
  output: 'sample output',
  /** Files and directories. */
  tree: 'directory tree',
  /** A drawing, a formula or a key layout. */
  diagram: 'diagram',
  /** Frames or headers on the wire. */
  wire: 'wire-format example',
  /** `npm install` / `npm start` / `npm test`: never run by a test; the scripts they name are checked. */
  install: 'installs or runs the whole project',
  /** The shape of an API (signatures, a manifest's keys), not code to run. */
  outline: 'API outline',
  /** Configuration of another program (a proxy). */
  config: "another program's configuration",
  /** A command that runs for minutes or hours. */
  'long-run': 'long-running command',
} as const;

/** Hints for blocks that are run: where a snippet runs when the code alone does not say. */
export const RUN_HINTS = {
  /** A TypeScript snippet that is app code for a web page. */
  browser: 'runs in the browser',
  /** The body of a feature's method (`start(ctx) { … }`): run inside `defineFeature` on a started server. */
  'feature-method': 'runs as a method of a feature',
} as const;

export type NotRunKind = keyof typeof NOT_RUN_KINDS;
export type RunHint = keyof typeof RUN_HINTS;

export interface Marker {
  kind: NotRunKind | RunHint;
  /** Name of the check that stands in for running the block (a registered check). */
  check?: string;
  note?: string;
}

export interface DocBlock {
  /** Path from the repository root, e.g. `docs/client.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** First word of the info string (`sh`, `ts`, `json`, …), '' when none. */
  info: string;
  /** The lines between the fences, without the fence's indentation. */
  text: string;
  marker?: Marker;
  /** Inside a region a program writes (`<!-- bench:results:begin … -->`). */
  generated: boolean;
  /** The nearest heading above the block, for test names. */
  heading: string;
}

const MARKER = /^\s*<!--\s*doc-test:\s*([a-z-]+)(?:\s+([a-z0-9-]+))?(?:\s+—\s+(.*?))?\s*-->\s*$/;
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;

/** The markdown files whose blocks are tested: README.md and docs/*.md (not generated files below docs/). */
export function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** Parse a marker comment; throws on a `doc-test:` comment that does not follow the grammar. */
export function parseMarker(line: string): Marker | undefined {
  if (!line.includes('doc-test:')) return undefined;
  const m = MARKER.exec(line);
  if (!m) throw new Error(`malformed doc-test marker: ${line.trim()}`);
  const kind = m[1] as string;
  if (!(kind in NOT_RUN_KINDS) && !(kind in RUN_HINTS)) throw new Error(`unknown doc-test kind "${kind}" in: ${line.trim()}`);
  return { kind: kind as Marker['kind'], ...(m[2] ? { check: m[2] } : {}), ...(m[3] ? { note: m[3] } : {}) };
}

/** Every fenced block of one markdown file. */
export function extractBlocks(file: string, source = readFileSync(join(ROOT, file), 'utf8')): DocBlock[] {
  const lines = source.split('\n');
  const blocks: DocBlock[] = [];
  let generated = false;
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (/<!-- bench:results:begin/.test(line)) generated = true;
    if (/<!-- bench:results:end/.test(line)) generated = false;
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '');
    const open = FENCE.exec(line);
    if (!open) continue;
    const [, indent = '', fence = '', info = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j] as string;
      if (l.trim().startsWith(fence[0]?.repeat(fence.length) ?? fence) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    if (j === lines.length) throw new Error(`${file}:${i + 1}: unclosed code fence`);
    const marker = i > 0 ? parseMarker(lines[i - 1] as string) : undefined;
    blocks.push({ file, line: i + 1, info: info.toLowerCase(), text: body.join('\n'), ...(marker ? { marker } : {}), generated, heading });
    i = j;
  }
  return blocks;
}
