import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import arrows of docs/ARCHITECTURE.md, enforced: a wrong arrow fails the build
 * instead of a review.
 */
const root = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] as string,
  );
}

const server = join(root, 'packages/server/src');
const rel = (f: string) => relative(server, f);

/** Relative imports of every server source, as paths relative to server/src (`.js` read as `.ts`). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of sources(server)) {
    const targets = imports(f)
      .filter((s) => s.startsWith('.'))
      .map((s) => rel(resolve(dirname(f), s)).replace(/\.js$/, '.ts'));
    graph.set(rel(f), targets);
  }
  return graph;
}

/** The folder of a server source (`core/commands/x.ts` → `core`); a top-level file is its own. */
const folderOf = (file: string): string => file.split('/')[0] as string;

/**
 * The layers of server/src, lowest first. A folder imports only folders of lower layers
 * (never one of its own layer, never one above): the arrows of docs/ARCHITECTURE.md.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors'],
  ['config'],
  ['observability', 'storage', 'engine', 'auth'],
  ['core'],
  ['transport', 'http'],
  ['features'],
  ['server.ts'],
  ['cli', 'index.ts', 'testing.ts'],
];
const layerOf = (folder: string): number => LAYERS.findIndex((l) => l.includes(folder));

/** Strongly connected components of more than one file (Tarjan): each is an import cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) out.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

function violations(files: string[], bad: (spec: string, file: string) => boolean): string[] {
  const out: string[] = [];
  for (const f of files) for (const spec of imports(f)) if (bad(spec, f)) out.push(`${relative(root, f)} imports ${spec}`);
  return out;
}

describe('architecture', () => {
  it('protocol imports nothing', () => {
    const files = sources(join(root, 'packages/protocol/src'));
    expect(violations(files, (spec) => !spec.startsWith('./'))).toEqual([]);
  });

  it('client imports only the protocol package and no node: module (the documents module also its peer dependencies yjs and y-protocols)', () => {
    const files = sources(join(root, 'packages/client/src'));
    const peers = (f: string, spec: string) => f.endsWith('packages/client/src/documents.ts') && (spec === 'yjs' || spec === 'y-protocols/awareness');
    expect(violations(files, (spec, f) => !spec.startsWith('./') && spec !== '@switchboard/protocol' && !peers(f, spec))).toEqual([]);
  });

  it('errors imports nothing of the server (the protocol package is fine)', () => {
    const files = sources(join(server, 'errors'));
    expect(violations(files, (spec) => spec.startsWith('../'))).toEqual([]);
  });

  it('end-to-end tests reach the server through its package entry points, never its sources', () => {
    const files = sources(join(root, 'test'));
    expect(violations(files, (spec) => /packages\/server\/src\//.test(spec))).toEqual([]);
  });

  it('every folder of server/src has a layer', () => {
    const folders = new Set([...importGraph().keys()].map(folderOf));
    expect([...folders].filter((f) => layerOf(f) === -1)).toEqual([]);
  });

  it('no back arrows: a folder imports only folders of lower layers (errors ← config ← observability, storage, engine, auth ← core ← transport, http ← features ← server.ts ← cli)', () => {
    const out: string[] = [];
    for (const [file, targets] of importGraph()) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (to !== from && layerOf(to) >= layerOf(from)) out.push(`${file} imports ${target}`);
      }
    }
    expect(out).toEqual([]);
  });

  it('no import cycles anywhere in server/src', () => {
    expect(cycles(importGraph())).toEqual([]);
  });

  it('the cycle finder finds a cycle', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('features and the HTTP API see the node and its connections only through core/context.ts, never the Node or Client class', () => {
    const internals = /\/core\/(node|client|kernel-context|hub|subscription)\.js$/;
    const files = [...sources(join(server, 'features')), ...sources(join(server, 'http'))];
    expect(violations(files, (spec) => internals.test(spec))).toEqual([]);
  });

  it('engine never imports core, features, http, transport or cli', () => {
    const files = sources(join(server, 'engine'));
    expect(violations(files, (spec) => /\.\.\/(core|features|http|transport|cli)\//.test(spec))).toEqual([]);
  });

  it('core never imports features, http, transport or cli', () => {
    const files = sources(join(server, 'core'));
    expect(violations(files, (spec) => /\.\.\/(features|http|transport|cli)\/|\.\.\/server\.js$/.test(spec))).toEqual([]);
  });

  it('transport knows nothing of features or http', () => {
    const files = sources(join(server, 'transport'));
    expect(violations(files, (spec) => /\.\.\/(features|http|cli)\//.test(spec))).toEqual([]);
  });

  it('a feature never imports another feature', () => {
    const files = sources(join(server, 'features'));
    expect(
      violations(files, (spec, f) => {
        const own = rel(f).split('/')[1];
        const m = /^\.\.\/([^./][^/]*)\//.exec(spec);
        return m !== null && m[1] !== own && !['errors', 'core', 'engine', 'auth', 'config', 'observability', 'storage', 'http'].includes(m[1] as string);
      }),
    ).toEqual([]);
  });

  it('the library never prints: no console.* in server or client sources (the CLI writes to stdout itself)', () => {
    const files = [...sources(server), ...sources(join(root, 'packages/client/src'))];
    // Doc-comment examples may show console.log; code lines may not.
    const code = (f: string) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l))
        .join('\n');
    const offenders = files.filter((f) => /\bconsole\.(log|error|warn|info|debug)\(/.test(code(f)));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('the server never imports the load generator statically: only `switchboard bench` loads it, lazily', () => {
    const text = (f: string) => readFileSync(f, 'utf8');
    const staticImport = /(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]@switchboard\/loadgen(?:\/[^'"]*)?['"]/;
    expect(
      sources(server)
        .filter((f) => staticImport.test(text(f)))
        .map(rel),
    ).toEqual([]);
    const lazy = sources(server).filter((f) => /import\(\s*['"]@switchboard\/loadgen['"]\s*\)/.test(text(f)));
    expect(lazy.map(rel)).toEqual(['cli/bench.ts']);
    const manifest = JSON.parse(text(join(root, 'packages/server/package.json'))) as { dependencies?: Record<string, string> };
    expect(manifest.dependencies?.['@switchboard/loadgen']).toBeUndefined();
  });

  it('keeps source files under 600 lines', () => {
    const loadgen = join(root, 'packages/loadgen/src');
    const files = [...sources(server), ...sources(join(root, 'packages/client/src')), ...sources(join(root, 'packages/protocol/src')), ...sources(loadgen)];
    const long = files.filter((f) => readFileSync(f, 'utf8').split('\n').length > 600).map((f) => relative(root, f));
    expect(long).toEqual([]);
  });
});
