#!/usr/bin/env node
// `npm run test:compat`: the document suites against the newest releases of the Yjs providers.
//
// The repository pins y-websocket, @hocuspocus/provider, yjs and y-protocols, so the default
// run proves compatibility with the versions users install today. This script copies the
// checkout (without node_modules) to a temporary directory, installs the lockfile there,
// then the newest release of each provider on top (`npm install --no-save`), builds, and runs
// the document suites, printing which versions it used. The checkout itself is never
// changed. It needs the npm registry; it is not part of `npm test`.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const PACKAGES = ['y-websocket', '@hocuspocus/provider', 'yjs', 'y-protocols'];
const SUITES = ['test/features/documents', 'packages/server/test/features/documents-fuzz.test.ts', 'test/cluster/documents.test.ts'];
const keep = process.argv.includes('--keep');

const dir = mkdtempSync(join(tmpdir(), 'sb-compat-'));
const run = (cmd, args) => execFileSync(cmd, args, { cwd: dir, stdio: 'inherit', env: { ...process.env, CI: 'true' } });
const version = (name) => JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
try {
  process.stderr.write(`copying the checkout to ${dir}\n`);
  // The files git knows or would add (not what .gitignore leaves out: node_modules, builds, tsbuildinfo).
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' }).split('\0');
  for (const file of files) if (file !== '' && existsSync(join(root, file))) cpSync(join(root, file), join(dir, file), { recursive: true });
  run('npm', ['ci', '--no-audit', '--no-fund']);
  const pinned = Object.fromEntries(PACKAGES.map((p) => [p, version(p)]));
  run('npm', ['install', '--no-save', '--no-audit', '--no-fund', ...PACKAGES.map((p) => `${p}@latest`)]);
  const latest = Object.fromEntries(PACKAGES.map((p) => [p, version(p)]));
  process.stderr.write(`${PACKAGES.map((p) => `${p}: pinned ${pinned[p]}, testing ${latest[p]}`).join('\n')}\n`);
  run('npm', ['run', 'build']);
  run('npx', ['vitest', 'run', ...SUITES]);
  process.stderr.write(`compatible with ${PACKAGES.map((p) => `${p}@${latest[p]}`).join(', ')}\n`);
} finally {
  if (keep) process.stderr.write(`kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
