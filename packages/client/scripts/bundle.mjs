// The browser builds of the SDK, from the compiled ESM in dist/ (the server serves them at /sdk/):
//  - switchboard.mjs, notifications.mjs, activity.mjs: ES modules, shared code in chunks/;
//  - switchboard.js: one classic script defining the global `Switchboard` (everything in it);
//  - manifest.json: each file's size, gzip size and sha384 integrity.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'browser');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const common = { bundle: true, minify: true, target: 'es2022', platform: 'browser', legalComments: 'none', logLevel: 'warning' };

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  ...common,
  entryPoints: { switchboard: join(dist, 'index.js'), notifications: join(dist, 'notifications.js'), activity: join(dist, 'activity.js') },
  format: 'esm',
  splitting: true,
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
});
await build({
  ...common,
  stdin: {
    contents: [
      `export * from ${JSON.stringify(join(dist, 'index.js'))};`,
      `export { notifications, Notifications } from ${JSON.stringify(join(dist, 'notifications.js'))};`,
      `export { activity, ActivityFeed } from ${JSON.stringify(join(dist, 'activity.js'))};`,
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'switchboard-global.js',
  },
  format: 'iife',
  globalName: 'Switchboard',
  outfile: join(out, 'switchboard.js'),
});

const files = {};
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else {
      const bytes = readFileSync(path);
      files[relative(out, path)] = {
        bytes: bytes.length,
        gzip: gzipSync(bytes, { level: 9 }).length,
        integrity: `sha384-${createHash('sha384').update(bytes).digest('base64')}`,
      };
    }
  }
};
walk(out);
const hash = createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 10);
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ version, build: `${version}-${hash}`, files }, null, 2)}\n`);
