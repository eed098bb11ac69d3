import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchResults } from './results.js';

/** The repository whose server build is measured. */
const ROOT = join(import.meta.dirname, '..', '..');

/** The machine and the build a comparison ran on, recorded with its results. */
export function machineInfo(): BenchResults['machine'] {
  const version = (pkg: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  let nproc = availableParallelism();
  try {
    nproc = Number(execFileSync('nproc').toString().trim());
  } catch {
    // keep availableParallelism()
  }
  return {
    nproc,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGB: totalmem() / 1024 ** 3,
    node: process.version,
    kernel: release(),
    revision: gitRevision(),
    build: buildFingerprint(),
    versions: { 'socket.io': version('socket.io'), 'socket.io-client': version('socket.io-client'), ws: version('ws') },
  };
}

/** Fingerprint of the built server (dist files, sizes and mtimes): a rebuild during the run is reported. */
export function buildFingerprint(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (e.endsWith('.js')) hash.update(`${p}:${st.size}:${st.mtimeMs}\n`);
    }
  };
  walk(join(ROOT, 'packages', 'server', 'dist'));
  walk(join(ROOT, 'packages', 'protocol', 'dist'));
  return hash.digest('hex').slice(0, 12);
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT }).toString().trim().length > 0;
    return dirty ? `${rev} + uncommitted changes in packages/` : rev;
  } catch {
    return 'unknown';
  }
}
