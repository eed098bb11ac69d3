import { readFileSync } from 'node:fs';

/** Microseconds on CLOCK_MONOTONIC: one clock shared by every process on the machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reject when `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** utime + stime of a process (all threads), in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(rest[11]) + Number(rest[12]);
}

/** Resident set size of a process, bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The publication payload: publisher timestamp (µs, CLOCK_MONOTONIC), sequence number, warm-up flag, padding. */
export interface BenchPayload {
  t: number;
  seq: number;
  w?: 1;
  body: string;
}

/** ~64 bytes of padding so each publication is a realistic ~120-byte JSON message. */
export const BODY = 'switchboard-bench-'.padEnd(64, 'x');

/** Channel (Switchboard) / room (Socket.IO) / channel (raw ws) used by the fan-out scenario. */
export const CHANNELS = { switchboard: 'project:bench', socketio: 'bench', ws: 'bench' } as const;

export type ServerKind = keyof typeof CHANNELS;
export const SERVER_KINDS: readonly ServerKind[] = ['switchboard', 'socketio', 'ws'];
export const SERVER_LABELS: Record<ServerKind, string> = { switchboard: 'Switchboard', socketio: 'Socket.IO 4.8.1', ws: 'raw ws' };

/** Tenant used for bench tokens. */
export const TENANT = 'bench';

/**
 * Busy clock ticks of the whole machine (all CPUs) from /proc/stat, and the part of them
 * spent by niced (background, nice > 0) processes in user mode.
 */
export function machineTicks(): { busy: number; niced: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), niced: f[1] ?? 0 };
}

/**
 * CPU used by processes other than ours over a window: machine busy ticks minus the ticks
 * of the given pids, split into normal-priority processes (which compete with the bench on
 * equal terms) and niced background processes (lower priority, but on 2 cores they still
 * measurably disturb latencies).
 */
export class OtherLoad {
  readonly #machine0: { busy: number; niced: number };
  readonly #ours0: number;
  readonly #t0 = nowUs();

  constructor(private readonly pids: number[]) {
    this.#machine0 = machineTicks();
    this.#ours0 = this.#ours();
  }

  #ours(): number {
    let sum = 0;
    for (const pid of this.pids) {
      try {
        sum += cpuTicks(pid);
      } catch {
        // exited
      }
    }
    return sum;
  }

  /** % of one core used by other processes since construction: normal priority, and niced. */
  pct(clkTck: number): { normal: number; niced: number } {
    const m = machineTicks();
    const seconds = (nowUs() - this.#t0) / 1e6;
    const other = m.busy - this.#machine0.busy - (this.#ours() - this.#ours0);
    const niced = m.niced - this.#machine0.niced;
    const toPct = (ticks: number) => Math.max(0, (ticks / clkTck / seconds) * 100);
    return { normal: toPct(other - niced), niced: toPct(niced) };
  }
}
