/** Command-line flags read one after another: `--flag value`, every value checked. */
export class ArgReader {
  #i = -1;
  #flag = '';

  constructor(private readonly argv: string[]) {}

  /** The next flag, or undefined at the end. */
  next(): string | undefined {
    const flag = this.argv[++this.#i];
    if (flag !== undefined) this.#flag = flag;
    return flag;
  }

  /** The current flag's value. */
  value(): string {
    const v = this.argv[++this.#i];
    if (v === undefined) throw new Error(`${this.#flag} needs a value`);
    return v;
  }

  /** The current flag's value as a positive number, capped at `max`. */
  positive(max = Infinity): number {
    const v = this.value();
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${this.#flag}: expected a positive number, got ${v}`);
    return Math.min(max, n);
  }

  /** A comma-separated list of positive numbers, each capped at `max`. */
  positives(max = Infinity): number[] {
    return this.value()
      .split(',')
      .map((v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`${this.#flag}: expected positive numbers, got ${v}`);
        return Math.min(max, n);
      });
  }
}

/** `--name N` from process.argv: an integer from 1 to `max`, or `def` when absent (the small single-server benches). */
export function intFlag(name: string, def: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? def : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`--${name}: an integer from 1 to ${max}`);
  return v;
}
