import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

/** The built JS of `contents` (importing from ./dist), minified, without React and the client (and without uPlot unless `withUplot`). */
async function bundled(contents: string, withUplot = false): Promise<{ bytes: Uint8Array; inputs: string[] }> {
  const out = await build({
    stdin: { contents, resolveDir: dir },
    bundle: true,
    minify: true,
    format: 'esm',
    write: false,
    metafile: true,
    external: ['react', '@switchboard/client', '@switchboard/client/*', ...(withUplot ? [] : ['uplot'])],
    logLevel: 'silent',
  });
  return { bytes: out.outputFiles[0]?.contents as Uint8Array, inputs: Object.keys(out.metafile.inputs) };
}

const MAIN = "export * from './dist/index.js'; export * as suspense from './dist/suspense.js';";
/** The hooks of both flavours and the provider: everything of `.` and `./suspense` but the components. */
const HOOKS =
  "export * from './dist/hooks.js'; export * from './dist/provider.js'; export * from './dist/use-latest.js'; export * from './dist/use-metric.js'; export * as suspense from './dist/suspense.js';";
const CHARTS = "export * from './dist/charts/index.js';";
const gzip = (bytes: Uint8Array) => gzipSync(bytes, { level: 9 }).length;

describe('the @switchboard/react package', () => {
  it('is ESM whose only side effect is its stylesheet, exports ., ./suspense, ./charts and ./styles.css, takes React >= 18 as a peer and depends on a pinned uPlot only', () => {
    expect(pkg.type).toBe('module');
    // A bundler may drop any JS module an app does not use, never the stylesheet an app imports
    // (webpack drops an import of a file that `sideEffects` says has none, CSS too).
    expect(pkg.sideEffects).toEqual(['*.css']);
    expect(Object.keys(pkg.exports)).toEqual(['.', './suspense', './charts', './styles.css', './package.json']);
    expect(pkg.exports['./charts']).toEqual({ types: './dist/charts/index.d.ts', default: './dist/charts/index.js' });
    expect(pkg.exports['./styles.css']).toBe('./styles.css');
    expect(pkg.files).toEqual(['dist', 'styles.css']);
    expect(existsSync(join(dir, 'styles.css'))).toBe(true);
    expect(pkg.peerDependencies.react).toBe('>=18');
    expect(Object.keys(pkg.dependencies)).toEqual(['uplot']);
    expect(pkg.dependencies.uplot).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.engines.node).toMatch(/^>=20/);
  });

  it('serves its stylesheet to an app’s bundler through `exports` (esbuild here: the app’s CSS gets the components’ default look)', async () => {
    const out = await build({
      stdin: { contents: "import '@switchboard/react/styles.css'; export { ConnectionStatus } from '@switchboard/react';", resolveDir: dir },
      bundle: true,
      format: 'esm',
      write: false,
      outdir: join(dir, 'bundle-check'),
      external: ['react', '@switchboard/client', '@switchboard/client/*'],
      logLevel: 'silent',
    });
    const css = out.outputFiles.find((f) => f.path.endsWith('.css'));
    expect(css?.text).toContain(':where(.sb-connection-dot)');
  });

  it('imports only React and the client SDK’s public entry points, and uPlot only in ./charts', () => {
    const built = [
      ...readdirSync(join(dir, 'dist')).filter((f) => f.endsWith('.js')),
      ...readdirSync(join(dir, 'dist', 'charts'))
        .filter((f) => f.endsWith('.js'))
        .map((f) => `charts/${f}`),
    ];
    expect(built).toContain('index.js');
    expect(built).toContain('suspense.js');
    expect(built).toContain('charts/index.js');
    const specifiers = new Map<string, Set<string>>();
    for (const file of built) {
      const text = readFileSync(join(dir, 'dist', file), 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        const s = m[1] as string;
        if (!s.startsWith('./') && !s.startsWith('../')) specifiers.set(s, (specifiers.get(s) ?? new Set()).add(file));
      }
    }
    const outside = [...specifiers.keys()];
    expect(outside.sort()).toEqual(['@switchboard/client', '@switchboard/client/activity', '@switchboard/client/notifications', 'react', 'uplot']);
    expect([...(specifiers.get('uplot') ?? [])].every((f) => f.startsWith('charts/'))).toBe(true);
    for (const s of outside.filter((s) => s.startsWith('@switchboard/client/'))) {
      const clientPkg = JSON.parse(readFileSync(join(dir, '..', 'client', 'package.json'), 'utf8'));
      expect(Object.keys(clientPkg.exports)).toContain(s.replace('@switchboard/client', '.'));
    }
  });

  it('its hooks weigh at most 6.5 KB gzip without React and the client, the whole of it at most 10 KB, and its main entry does not ship uPlot', async () => {
    // Bundled with uPlot resolvable: an import of it anywhere under `.` or `./suspense` would be inlined.
    const main = await bundled(MAIN, true);
    expect(main.inputs.filter((f) => f.includes('uplot'))).toEqual([]);
    expect(main.inputs.filter((f) => f.includes('/charts/'))).toEqual([]);
    expect(new TextDecoder().decode(main.bytes)).not.toMatch(/uPlot|uplot/);
    const size = gzip(main.bytes);
    const hooks = gzip((await bundled(HOOKS)).bytes);
    const charts = await bundled(CHARTS);
    const chartsWithUplot = await bundled(CHARTS, true);
    const report = [
      `@switchboard/react . and ./suspense (minified, gzip): ${size} bytes; their hooks and provider alone: ${hooks} bytes`,
      `@switchboard/react/charts alone (with the modules it shares with .), without uPlot: ${gzip(charts.bytes)} bytes; with uPlot: ${gzip(chartsWithUplot.bytes)} bytes`,
    ];
    process.stdout.write(`${report.join('\n')}\n`);
    expect(chartsWithUplot.inputs.some((f) => f.includes('uplot'))).toBe(true);
    // The issue's 10 KB holds for the whole (9.8 KB: the components' default look is in styles.css,
    // not in JS); the hooks are held where they are (6.1 KB). docs/react.md says so.
    expect(hooks).toBeLessThanOrEqual(6.5 * 1024);
    expect(size).toBeLessThanOrEqual(10 * 1024);
  });
});
