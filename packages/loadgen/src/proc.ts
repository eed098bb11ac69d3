import { execFileSync } from 'node:child_process';
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
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

let clkTck: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
export function clockTicksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU time of a process (utime + stime, all threads), seconds; null when it is gone or /proc is missing. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clockTicksPerSecond();
  } catch {
    return null;
  }
}

/** Resident set size of a process, bytes (VmRSS of /proc/<pid>/status); null when unknown. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The soft limit on open files of this process (children inherit it); null when unknown. */
export function openFileLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return null;
  }
}

/** Local ports one source address can use towards one server (net.ipv4.ip_local_port_range). */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi >= lo) return hi - lo + 1;
  } catch {
    // not Linux
  }
  return 28_232;
}

/** utime + stime of a process (all threads), in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(rest[11]) + Number(rest[12]);
}

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
  pct(clkTck = clockTicksPerSecond()): { normal: number; niced: number } {
    const m = machineTicks();
    const seconds = (nowUs() - this.#t0) / 1e6;
    const other = m.busy - this.#machine0.busy - (this.#ours() - this.#ours0);
    const niced = m.niced - this.#machine0.niced;
    const toPct = (ticks: number) => Math.max(0, (ticks / clkTck / seconds) * 100);
    return { normal: toPct(other - niced), niced: toPct(niced) };
  }
}

/** Busy CPU time of the whole machine (all CPUs, every process), seconds, from /proc/stat. */
function machineBusySeconds(): number | null {
  try {
    return machineTicks().busy / clockTicksPerSecond();
  } catch {
    return null;
  }
}

const sumCpu = (pids: readonly number[]): number => pids.reduce((a, pid) => a + (cpuSeconds(pid) ?? 0), 0);

/** CPU used in a measured window: seconds and % of one core. */
export interface CpuFigure {
  seconds: number;
  pct: number;
}

/** The sum of the values that could be read; null when none could. */
function sumKnown(values: ReadonlyArray<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

/**
 * CPU of the server, of the load generator (this process and its workers) and of every
 * other process on the machine over a measured window, and the server's RSS (the server's
 * figures summed over its processes with --nodes): on a shared machine the last one says
 * how far the figures can be trusted.
 */
export class ServerGauge {
  /** The server's processes: one, or every node of `--nodes`; their figures are summed. */
  readonly #pids: readonly number[];
  #generatorPids: number[] = [process.pid];
  #server0 = new Map<number, number>();
  #generator0 = 0;
  #machine0: number | null = null;
  #t0 = 0;

  constructor(pids: readonly number[]) {
    this.#pids = pids;
    this.mark();
  }

  get known(): boolean {
    return this.#pids.length > 0;
  }

  /** The load generator's processes (besides this one). */
  setGenerator(pids: readonly number[]): void {
    this.#generatorPids = [process.pid, ...pids];
    this.mark();
  }

  /** Start a measured window now. */
  mark(): void {
    this.#server0 = new Map(this.#pids.map((pid) => [pid, cpuSeconds(pid) ?? 0]));
    this.#generator0 = sumCpu(this.#generatorPids);
    this.#machine0 = machineBusySeconds();
    this.#t0 = nowUs();
  }

  #figure(seconds: number): CpuFigure {
    const wall = (nowUs() - this.#t0) / 1e6;
    return { seconds, pct: wall > 0 ? (seconds / wall) * 100 : 0 };
  }

  /** The server's CPU since mark(), summed over its processes still running; null when none can be read. */
  cpu(): CpuFigure | null {
    let seconds = 0;
    let read = false;
    for (const pid of this.#pids) {
      const now = cpuSeconds(pid);
      if (now === null) continue;
      read = true;
      seconds += now - (this.#server0.get(pid) ?? 0);
    }
    return read ? this.#figure(seconds) : null;
  }

  /** The load generator's CPU since mark(). */
  generatorCpu(): CpuFigure {
    return this.#figure(sumCpu(this.#generatorPids) - this.#generator0);
  }

  /** Every other process's CPU since mark() (the machine's busy time minus server and generator). */
  othersCpu(): CpuFigure | null {
    const now = machineBusySeconds();
    if (now === null || this.#machine0 === null) return null;
    const server = this.cpu()?.seconds ?? 0;
    return this.#figure(Math.max(0, now - this.#machine0 - server - this.generatorCpu().seconds));
  }

  /** The server's RSS, summed over its processes still running. */
  rss(): number | null {
    return sumKnown(this.#pids.map(rssBytes));
  }

  /** The server's CPU since it started, seconds, summed over its processes (for live figures, independent of mark()). */
  serverCpuTotal(): number | null {
    return sumKnown(this.#pids.map(cpuSeconds));
  }
}
