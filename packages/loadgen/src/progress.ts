import type { Fleet } from './fleet.js';
import { formatBytes, formatInt } from './format.js';
import { nowUs, type ServerGauge } from './proc.js';

export type ProgressMode = 'bar' | 'lines' | 'none';

const BAR_WIDTH = 24;

/** What a phase counts towards its end, from the workers' live counters. */
export type PhaseCounter = (c: Awaited<ReturnType<Fleet['counters']>>) => number;

interface Phase {
  name: string;
  total: number;
  counter: PhaseCounter;
  startUs: number;
}

/**
 * Live progress on stderr: a redrawn bar with figures when stderr is a terminal, otherwise
 * one line per second (`--progress lines`) or nothing. Figures come from the workers'
 * counters and /proc of the server, polled once a second.
 */
export class Progress {
  #phase: Phase | null = null;
  #timer: NodeJS.Timeout | null = null;
  #polling = false;
  #lastMeasured = 0;
  #lastUs = nowUs();
  #lastCpu: number | null = null;
  #drawn = false;

  constructor(
    readonly mode: ProgressMode,
    readonly fleet: Fleet | null,
    readonly gauge: ServerGauge,
    readonly scenario: string,
  ) {}

  /** Start a phase: `total` is what `counter` reaches when it is done (0: no bar, elapsed time only). */
  phase(name: string, total = 0, counter: PhaseCounter = () => 0): void {
    this.#phase = { name, total, counter, startUs: nowUs() };
    if (this.mode === 'none') return;
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#poll(), 1000);
      this.#timer.unref();
    }
    void this.#poll();
  }

  /** Name of the phase running now. */
  get current(): string {
    return this.#phase?.name ?? 'starting';
  }

  /** A line that stays (phase results, warnings). */
  note(text: string): void {
    if (this.mode === 'none') return;
    this.#clear();
    process.stderr.write(`${text}\n`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#clear();
  }

  #clear(): void {
    if (this.mode === 'bar' && this.#drawn) process.stderr.write('\r\x1b[2K');
    this.#drawn = false;
  }

  async #poll(): Promise<void> {
    const phase = this.#phase;
    if (!phase || this.#polling || !this.fleet) return;
    this.#polling = true;
    try {
      const c = await this.fleet.counters(2000);
      if (this.#phase !== phase) return;
      const now = nowUs();
      const dt = Math.max(1e-3, (now - this.#lastUs) / 1e6);
      const events = c.measured + c.presenceEvents;
      const rate = Math.max(0, (events - this.#lastMeasured) / dt);
      this.#lastMeasured = events;
      this.#lastUs = now;
      const cpu = this.gauge.serverCpuTotal();
      const cpuPct = cpu !== null && this.#lastCpu !== null ? ((cpu - this.#lastCpu) / dt) * 100 : null;
      this.#lastCpu = cpu;
      const rss = this.gauge.rss();
      const parts = [
        `${formatInt(c.open)} open${c.failed ? ` (${formatInt(c.failed)} failed)` : ''}`,
        `${formatInt(Math.round(rate))} events/s`,
        ...(c.recent.count ? [`p99 ${(c.recent.percentile(99) / 1000).toFixed(1)} ms`] : []),
        ...(cpuPct !== null ? [`server CPU ${Math.round(cpuPct)}%`] : []),
        ...(rss !== null ? [`RSS ${formatBytes(rss)}`] : []),
      ];
      this.#draw(phase, phase.counter(c), parts.join('  '));
    } catch {
      // a worker busy past the poll deadline: skip this frame
    } finally {
      this.#polling = false;
    }
  }

  #draw(phase: Phase, done: number, figures: string): void {
    const elapsed = ((nowUs() - phase.startUs) / 1e6).toFixed(0);
    const frac = phase.total > 0 ? Math.min(1, done / phase.total) : 0;
    const head = `${this.scenario} ${phase.name}`;
    if (this.mode === 'lines') {
      const count = phase.total > 0 ? ` ${formatInt(done)}/${formatInt(phase.total)}` : '';
      process.stderr.write(`${head}${count} ${elapsed}s  ${figures}\n`);
      return;
    }
    const filled = Math.round(frac * BAR_WIDTH);
    const bar = phase.total > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}% ` : '';
    const width = process.stderr.columns ?? 120;
    process.stderr.write(`\r\x1b[2K${`${bar}${head} ${elapsed}s  ${figures}`.slice(0, width - 1)}`);
    this.#drawn = true;
  }
}
