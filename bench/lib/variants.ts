/**
 * The servers of the comparison run: the three wire kinds of the load generator, plus
 * Switchboard with node:cluster workers (`switchboard-w2` = `switchboard serve --workers 2`),
 * which speaks the Switchboard protocol and runs as a process tree (a primary and N workers):
 * its CPU and RSS are summed over every process of the tree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { SERVER_KINDS, SERVER_LABELS, type ServerKind } from '@switchboard/loadgen';

/** A server of the run: a wire kind, or Switchboard with N ≥ 2 workers. */
export type ServerVariant = ServerKind | `switchboard-w${number}`;

const WORKERS = /^switchboard-w([0-9]+)$/;

/** Workers of a `switchboard-wN` variant; null for the single-process servers. */
export function serverWorkers(v: ServerVariant): number | null {
  const m = WORKERS.exec(v);
  return m ? Number(m[1]) : null;
}

export function parseVariant(text: string): ServerVariant {
  if ((SERVER_KINDS as readonly string[]).includes(text)) return text as ServerKind;
  const n = serverWorkers(text as ServerVariant);
  if (n !== null && n >= 2 && n <= 64) return text as ServerVariant;
  throw new Error(`--servers: unknown server ${text} (${SERVER_KINDS.join(', ')}, or switchboard-w2 … switchboard-w64 for serve --workers N)`);
}

/** The protocol its clients speak. */
export const wireKind = (v: ServerVariant): ServerKind => (serverWorkers(v) === null ? (v as ServerKind) : 'switchboard');

export function variantLabel(v: ServerVariant): string {
  const n = serverWorkers(v);
  return n === null ? SERVER_LABELS[v as ServerKind] : `Switchboard --workers ${n}`;
}

/** The script under bench/servers/ and its extra environment. */
export function serverScript(v: ServerVariant): { file: string; env: Record<string, string> } {
  const n = serverWorkers(v);
  return n === null ? { file: `${v}.mjs`, env: {} } : { file: 'switchboard-workers.mjs', env: { BENCH_SERVER_WORKERS: String(n) } };
}

/** Display order: Switchboard, its worker variants by N, Socket.IO, raw ws. */
export function variantOrder(v: ServerVariant): number {
  const n = serverWorkers(v);
  return n !== null ? n : (({ switchboard: 1, socketio: 1000, ws: 1001 } as Record<string, number>)[v] ?? 999);
}

/** `pid` and its descendants (from /proc/<pid>/task/<tid>/children), bounded to 256 processes. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length && out.length < 256) {
    const p = queue.shift() as number;
    out.push(p);
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) queue.push(Number(k));
      }
    } catch {
      // gone
    }
  }
  return out;
}
