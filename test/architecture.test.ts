import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
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
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] as string);
}

const server = join(root, 'packages/server/src');
const rel = (f: string) => relative(server, f);

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

  it('client imports only the protocol package and no node: module', () => {
    const files = sources(join(root, 'packages/client/src'));
    expect(violations(files, (spec) => !spec.startsWith('./') && spec !== '@switchboard/protocol')).toEqual([]);
  });

  it('errors imports nothing of the server (the protocol package is fine)', () => {
    const files = sources(join(server, 'errors'));
    expect(violations(files, (spec) => spec.startsWith('../'))).toEqual([]);
  });

  it('engine never imports core, features, http, transport or cli', () => {
    const files = sources(join(server, 'engine'));
    expect(violations(files, (spec) => /\.\.\/(core|features|http|transport|cli)\//.test(spec))).toEqual([]);
  });

  it('core never imports features, http, transport or cli', () => {
    const files = sources(join(server, 'core'));
    expect(violations(files, (spec) => /\.\.\/(features|http|transport|cli)\//.test(spec))).toEqual([]);
  });

  it('transport knows nothing of features or http', () => {
    const files = sources(join(server, 'transport'));
    expect(violations(files, (spec) => /\.\.\/(features|http|cli)\//.test(spec))).toEqual([]);
  });

  it('a feature never imports another feature', () => {
    const files = sources(join(server, 'features'));
    expect(violations(files, (spec, f) => {
      const own = rel(f).split('/')[1];
      const m = /^\.\.\/([^./][^/]*)\//.exec(spec);
      return m !== null && m[1] !== own && !['errors', 'core', 'engine', 'auth', 'config', 'observability', 'storage', 'http'].includes(m[1] as string);
    })).toEqual([]);
  });

  it('the library never prints: no console.* in server or client sources (the CLI writes to stdout itself)', () => {
    const files = [...sources(server), ...sources(join(root, 'packages/client/src'))];
    // Doc-comment examples may show console.log; code lines may not.
    const code = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l)).join('\n');
    const offenders = files.filter((f) => /\bconsole\.(log|error|warn|info|debug)\(/.test(code(f)));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('keeps source files under 600 lines', () => {
    const files = [...sources(server), ...sources(join(root, 'packages/client/src')), ...sources(join(root, 'packages/protocol/src'))];
    const long = files.filter((f) => readFileSync(f, 'utf8').split('\n').length > 600).map((f) => relative(root, f));
    expect(long).toEqual([]);
  });
});
