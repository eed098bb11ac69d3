import { formatMs } from './format.js';
import type { Histogram, LatencySummary } from './histogram.js';

/** A correctness condition of the run (delivery, order, success rate): a failed one makes the exit status 1. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** A performance target stated in the benchmark issue: reported as met or not, never changes the exit status. */
export interface TargetCheck {
  name: string;
  met: boolean;
  detail: string;
}

type Row = { label: string; text: string } | { section: string };

/** The outcome of one scenario: figures for `--json`, the same as rows of the final table, checks and targets. */
export class Report {
  readonly figures: Record<string, unknown> = {};
  readonly checks: Check[] = [];
  readonly targets: TargetCheck[] = [];
  readonly notes: string[] = [];
  readonly #rows: Row[] = [];

  constructor(
    readonly scenario: string,
    readonly params: Record<string, unknown>,
  ) {}

  section(title: string): this {
    this.#rows.push({ section: title });
    return this;
  }

  /** A figure under `key` (dotted: `server.cpuSeconds`) and, with a label, a row of the table. */
  add(key: string, value: unknown, label?: string, text?: string): this {
    const path = key.split('.');
    let node = this.figures;
    for (const part of path.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = value;
    if (label !== undefined) this.#rows.push({ label, text: text ?? String(value) });
    return this;
  }

  /** Latency percentiles (ms) under `key`, and one row `p50 / p95 / p99 / max`. */
  latency(key: string, label: string, h: Histogram): LatencySummary {
    const s = h.summary();
    const text = s.count === 0 ? 'no samples' : `${formatMs(s.p50)} / ${formatMs(s.p95)} / ${formatMs(s.p99)} / ${formatMs(s.max)}`;
    this.add(key, s, `${label} p50 / p95 / p99 / max`, text);
    return s;
  }

  check(name: string, ok: boolean, detail: string): this {
    this.checks.push({ name, ok, detail });
    return this;
  }

  target(name: string, met: boolean, detail: string): this {
    this.targets.push({ name, met, detail });
    return this;
  }

  note(text: string): this {
    this.notes.push(text);
    return this;
  }

  get ok(): boolean {
    return this.checks.every((c) => c.ok);
  }

  json(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      scenario: this.scenario,
      ok: this.ok,
      params: this.params,
      ...extra,
      figures: this.figures,
      checks: this.checks,
      targets: this.targets,
      notes: this.notes,
    };
  }

  table(): string {
    const labelWidth = Math.max(20, ...this.#rows.map((r) => ('label' in r ? r.label.length : 0)));
    const lines = [`switchboard bench ${this.scenario}`, ''];
    for (const r of this.#rows) {
      if ('section' in r) lines.push(lines[lines.length - 1] === '' ? r.section : `\n${r.section}`);
      else lines.push(`  ${r.label.padEnd(labelWidth)}  ${r.text}`);
    }
    const nameWidth = Math.max(0, ...this.checks.map((c) => c.name.length), ...this.targets.map((t) => t.name.length));
    if (this.checks.length > 0) {
      lines.push('', 'Checks');
      for (const c of this.checks) lines.push(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(nameWidth)}  ${c.detail}`);
    }
    if (this.targets.length > 0) {
      lines.push('', 'Targets of the benchmark issue (reported, not enforced)');
      for (const t of this.targets) lines.push(`  ${t.met ? 'met ' : 'MISS'}  ${t.name.padEnd(nameWidth)}  ${t.detail}`);
    }
    for (const n of this.notes) lines.push('', `Note: ${n}`);
    lines.push('', `Result: ${this.ok ? 'PASS' : 'FAIL'}`);
    return lines.join('\n');
  }
}
