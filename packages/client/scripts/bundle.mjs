// The browser builds of the SDK, from the compiled ESM in dist/ (the server serves them at /sdk/):
//  - switchboard.mjs, notifications.mjs, activity.mjs, locks.mjs: ES modules, shared code in chunks/;
//  - switchboard.mjs, notifications.mjs, activity.mjs, comments.mjs, records.mjs, metrics.mjs: ES modules, shared code in chunks/;
//  - switchboard.js: one classic script defining the global `Switchboard` (everything in it);
//  - switchboard.d.mts, notifications.d.mts, activity.d.mts, comments.d.mts (next to the ES modules) and
//    switchboard.d.ts (the global of the classic script): TypeScript declarations, over the
//    package's own declarations in types/ (the protocol's in types/protocol/);
//  - manifest.json: each file's size, gzip size and sha384 integrity.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  entryPoints: {
    switchboard: join(dist, 'index.js'),
    notifications: join(dist, 'notifications.js'),
    activity: join(dist, 'activity.js'),
    locks: join(dist, 'locks.js'),
    comments: join(dist, 'comments.js'),
    records: join(dist, 'records.js'),
    metrics: join(dist, 'metrics.js'),
  },
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
      `export { locks, ChannelLocks } from ${JSON.stringify(join(dist, 'locks.js'))};`,
      `export { comments, CommentThreads } from ${JSON.stringify(join(dist, 'comments.js'))};`,
      `export { records, Records, LiveRecord } from ${JSON.stringify(join(dist, 'records.js'))};`,
      `export { metrics, Metrics } from ${JSON.stringify(join(dist, 'metrics.js'))};`,
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'switchboard-global.js',
  },
  format: 'iife',
  globalName: 'Switchboard',
  outfile: join(out, 'switchboard.js'),
});

// Declarations: the compiled .d.ts files as they are, the bare protocol import made relative
// so the tree works from a URL or a copied folder.
const protocolDist = dirname(fileURLToPath(import.meta.resolve('@switchboard/protocol')));
const copyDeclarations = (from, to, rewrite) => {
  for (const name of readdirSync(from)) {
    const path = join(from, name);
    if (statSync(path).isDirectory()) {
      if (path !== out) copyDeclarations(path, join(to, name), rewrite);
    } else if (name.endsWith('.d.ts')) {
      mkdirSync(to, { recursive: true });
      const text = readFileSync(path, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
      writeFileSync(join(to, name), rewrite(text, to));
    }
  }
};
const types = join(out, 'types');
copyDeclarations(protocolDist, join(types, 'protocol'), (text) => text);
copyDeclarations(dist, types, (text, dir) => {
  const target = relative(dir, join(types, 'protocol', 'index.js'))
    .split('\\')
    .join('/');
  return text.replaceAll(/(['"])@switchboard\/protocol\1/g, JSON.stringify(target.startsWith('.') ? target : `./${target}`));
});
const leaked = readdirSync(types, { recursive: true }).filter(
  (f) =>
    String(f).endsWith('.d.ts') &&
    readFileSync(join(types, String(f)), 'utf8').match(/^(?:import|export)\b[^\n]*['"]@switchboard\/|import\(['"]@switchboard\//m),
);
if (leaked.length > 0) throw new Error(`declarations still import a package by name: ${leaked.join(', ')}`);
writeFileSync(join(out, 'switchboard.d.mts'), "export * from './types/index.js';\n");
writeFileSync(join(out, 'notifications.d.mts'), "export * from './types/notifications.js';\n");
writeFileSync(join(out, 'activity.d.mts'), "export * from './types/activity.js';\n");
writeFileSync(join(out, 'locks.d.mts'), "export * from './types/locks.js';\n");
writeFileSync(join(out, 'comments.d.mts'), "export * from './types/comments.js';\n");
writeFileSync(join(out, 'records.d.mts'), "export * from './types/records.js';\n");
writeFileSync(join(out, 'metrics.d.mts'), "export * from './types/metrics.js';\n");
writeFileSync(
  join(out, 'switchboard.d.ts'),
  [
    '// The classic script (switchboard.js) defines the global `Switchboard`: everything in the',
    '// ES modules, notifications, activity, comments, locks, records and metrics included.',
    "export * from './types/index.js';",
    "export { notifications, Notifications } from './types/notifications.js';",
    "export { activity, ActivityFeed } from './types/activity.js';",
    "export { comments, CommentThreads } from './types/comments.js';",
    "export { locks, ChannelLocks } from './types/locks.js';",
    "export { records, Records, LiveRecord } from './types/records.js';",
    "export { metrics, Metrics } from './types/metrics.js';",
    'export as namespace Switchboard;',
    '',
  ].join('\n'),
);

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
