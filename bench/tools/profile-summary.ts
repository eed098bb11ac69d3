/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`, e.g. `compare.ts --profile`):
 * top functions by self time, self time by file, and inclusive time of chosen frames.
 *
 *   npx tsx bench/tools/profile-summary.ts bench/profiles/r1-switchboard-fanout1000.cpuprofile [--top 30] [--match text]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [--top N] [--match text]\n');
  process.exit(1);
}
const topIdx = args.indexOf('--top');
const top = topIdx !== -1 ? Number(args[topIdx + 1]) : 30;
const matchIdx = args.indexOf('--match');
const match = matchIdx !== -1 ? args[matchIdx + 1] : undefined;

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from samples and time deltas (µs).
const self = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i] as number;
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function short(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 13);
  const pk = url.indexOf('/packages/');
  if (pk !== -1) return url.slice(pk + 1);
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

function label(f: CallFrame): string {
  return `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
}

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;

const selfByFn = new Map<string, number>();
const selfByFile = new Map<string, number>();
for (const [id, us] of self) {
  const f = (byId.get(id) as ProfileNode).callFrame;
  selfByFn.set(label(f), (selfByFn.get(label(f)) ?? 0) + us);
  const key = f.url ? (short(f.url).split(':')[0] as string) : `(${f.functionName || 'native'})`;
  selfByFile.set(key, (selfByFile.get(key) ?? 0) + us);
}

// Inclusive time per function label (each sample counted once per distinct label on its stack).
const incl = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  let cur: number | undefined = id;
  while (cur !== undefined) {
    const l = label((byId.get(cur) as ProfileNode).callFrame);
    if (!seen.has(l)) {
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + us);
    }
    cur = parent.get(cur);
  }
}

const out: string[] = [];
out.push(`${file}: ${(total / 1e3).toFixed(0)} ms sampled`);
out.push('\nself time by function:');
for (const [l, us] of [...selfByFn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${pct(us)}  ${l}`);
out.push('\nself time by file:');
for (const [l, us] of [...selfByFile].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${pct(us)}  ${l}`);
out.push('\ninclusive time by function:');
const inclRows = [...incl]
  .filter(([l]) => !match || l.includes(match))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top);
for (const [l, us] of inclRows) out.push(`${pct(us)}  ${l}`);
process.stdout.write(`${out.join('\n')}\n`);
