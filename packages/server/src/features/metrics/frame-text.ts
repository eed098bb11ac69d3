import type { Stat } from './buckets.js';
import type { StepLog } from './change-log.js';
import type { MetricStores } from './metric-stores.js';

/** One series' part of a frame: the buckets that hold points, their values in columns as JSON. */
interface Part {
  /** What it was built for: the columns' key and the starts asked. */
  columnsKey: string;
  asked: readonly number[];
  /** Starts of the buckets sent, ascending. */
  starts: number[];
  /** `[[…],[…]]`: per column, the values of the buckets (a statistic without a value is null). */
  v: string;
  /** The `t` JSON of the latest base asked for. */
  tBase: number;
  t: string;
}

/** What one subscription's update frame says, less its series. */
export interface UpdateHead {
  /** `JSON.stringify(id)`. */
  idJson: string;
  seq: number;
  at: number;
  from: number;
  skipped: number;
  step: number;
}

/** One followed series of an update frame: its index, its store key and log, the starts changed (ascending, in the window; never changed afterwards: a kept part remembers them). */
export interface UpdateSeries {
  i: number;
  key: string;
  log: StepLog;
  starts: readonly number[];
}

/**
 * Builds the JSON text of update frames as `encodeFrame` + `JSON.stringify` would, byte for
 * byte, but reads and encodes each series' buckets once per round however many subscriptions
 * send them while the stores are unchanged: the parts are kept by (store log, columns, starts asked)
 * for one round of frames at one change version of the stores (`at`).
 */
export class FrameText {
  /** Per log, the parts built this round (a few: one per columns and starts asked). */
  #parts = new Map<StepLog, Part[]>();
  #round = -1;
  #version = -1;

  constructor(readonly stores: MetricStores) {}

  /**
   * Frames of round `round` are built with the stores at change version `version`: the parts
   * cached in another round or at another version are forgotten (between rounds, buckets may
   * also have gone past their retention).
   */
  at(round: number, version: number): void {
    if (round === this.#round && version === this.#version) return;
    this.#round = round;
    this.#version = version;
    if (this.#parts.size > 0) this.#parts = new Map();
  }

  /**
   * The `data` of a feature push: an update frame of `series` (by index ascending) in
   * `columns`; `columnsKey` names the columns (the same columns, the same key).
   */
  update(head: UpdateHead, columns: readonly Stat[], columnsKey: string, series: readonly UpdateSeries[]): string {
    const parts: Array<{ i: number; part: Part }> = [];
    let base = Number.POSITIVE_INFINITY;
    for (const s of series) {
      const part = this.#part(s, columns, columnsKey);
      if (part.starts.length === 0) continue;
      parts.push({ i: s.i, part });
      const first = part.starts[0] as number;
      if (first < base) base = first;
    }
    if (base === Number.POSITIVE_INFINITY) base = head.from;
    let text = `{"id":${head.idJson},"kind":"update","seq":${head.seq},"at":${num(head.at)},"from":${num(head.from)},"skipped":${head.skipped},"base":${num(base)},"step":${num(head.step)},"series":[`;
    for (let k = 0; k < parts.length; k++) {
      const { i, part } = parts[k] as { i: number; part: Part };
      if (part.tBase !== base) {
        part.tBase = base;
        part.t = JSON.stringify(part.starts.map((s) => (s - base) / head.step));
      }
      text += `${k === 0 ? '' : ','}{"i":${i},"t":${part.t},"v":${part.v}}`;
    }
    return `${text}]}`;
  }

  #part(s: UpdateSeries, columns: readonly Stat[], columnsKey: string): Part {
    let built = this.#parts.get(s.log);
    if (built) {
      for (const part of built) if (part.columnsKey === columnsKey && same(part.asked, s.starts)) return part;
    } else {
      built = [];
      this.#parts.set(s.log, built);
    }
    const rows = this.stores.rows(s.key, s.log.step, s.starts, columns);
    const v: Array<Array<number | null>> = [];
    for (let c = 0; c < columns.length; c++) v.push(rows.map((r) => finiteOrNull(r.values[c])));
    const part = { columnsKey, asked: s.starts, starts: rows.map((r) => r.start), v: JSON.stringify(v), tBase: Number.NaN, t: '' };
    // Subscriptions that ask a store for many different columns or starts in one round share less: the search stays short.
    if (built.length < MAX_PARTS) built.push(part);
    return part;
  }
}

/** Parts kept per log and round. */
const MAX_PARTS = 16;

function same(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** A number as JSON writes it (null when it is not finite). */
const num = (x: number): string => JSON.stringify(x);

/** JSON has no NaN or Infinity: a statistic without a value is null. */
function finiteOrNull(x: number | null | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}
