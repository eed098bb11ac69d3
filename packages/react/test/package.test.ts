import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

/** The built package's JS for both entries, minified, without React and the client. */
async function bundled(): Promise<Uint8Array> {
  const out = await build({
    stdin: { contents: "export * from './dist/index.js'; export * as suspense from './dist/suspense.js';", resolveDir: dir },
    bundle: true,
    minify: true,
    format: 'esm',
    write: false,
    external: ['react', '@switchboard/client', '@switchboard/client/*'],
    logLevel: 'silent',
  });
  return out.outputFiles[0]?.contents as Uint8Array;
}

describe('the @switchboard/react package', () => {
  it('is ESM without side effects, exports . and ./suspense, and takes React >= 18 as a peer', () => {
    expect(pkg.type).toBe('module');
    expect(pkg.sideEffects).toBe(false);
    expect(Object.keys(pkg.exports)).toEqual(['.', './suspense', './package.json']);
    expect(pkg.peerDependencies.react).toBe('>=18');
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.engines.node).toMatch(/^>=20/);
  });

  it('imports only React and the client SDK’s public entry points', () => {
    const built = readdirSync(join(dir, 'dist')).filter((f) => f.endsWith('.js'));
    expect(built).toContain('index.js');
    expect(built).toContain('suspense.js');
    const specifiers = new Set<string>();
    for (const file of built) {
      const text = readFileSync(join(dir, 'dist', file), 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) specifiers.add(m[1] as string);
    }
    const outside = [...specifiers].filter((s) => !s.startsWith('./'));
    expect(outside.sort()).toEqual(['@switchboard/client', '@switchboard/client/activity', '@switchboard/client/notifications', 'react']);
    for (const s of outside.filter((s) => s.startsWith('@switchboard/client/'))) {
      const clientPkg = JSON.parse(readFileSync(join(dir, '..', 'client', 'package.json'), 'utf8'));
      expect(Object.keys(clientPkg.exports)).toContain(s.replace('@switchboard/client', '.'));
    }
  });

  it('weighs at most 10 KB gzip without React and the client', async () => {
    const size = gzipSync(await bundled(), { level: 9 }).length;
    process.stdout.write(`@switchboard/react (both entries, minified, gzip): ${size} bytes\n`);
    expect(size).toBeLessThanOrEqual(10 * 1024);
  });
});
