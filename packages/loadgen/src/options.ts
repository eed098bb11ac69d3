import { BenchUsageError } from './failure.js';

/** The command line of one bench run: the scenario (positionals[0]) and `--flag value` pairs in order. */
export interface BenchArgv {
  positionals: string[];
  /** `--name value` and `--name=value`, in order; repeated flags keep every value. */
  flags: Array<[string, string]>;
}

/**
 * `count`: a whole number (`10000` or `10k`); `number`: a decimal; `duration`: seconds
 * (`10`, `1.5`) or with a unit (`500ms`, `10s`, `2m`); `text`; `choice`: one of `choices`;
 * `flag`: present or not (`--json`); `list`: may repeat.
 */
export type OptionKind = 'count' | 'number' | 'duration' | 'text' | 'choice' | 'flag' | 'list';

export interface OptionDef {
  flag: string;
  kind: OptionKind;
  /** Default as it would be typed; none: unset unless given. */
  default?: string;
  help: string;
  choices?: readonly string[];
  /** Smallest accepted count / number (default 1 for counts, 0 for numbers). */
  min?: number;
  max?: number;
}

export type OptionValue = number | string | boolean | string[];

const bad = (message: string) => new BenchUsageError(message);

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250ms", "10s", "5m", "1h", "7d" in milliseconds; null when not a duration. */
function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  return m ? Math.round(Number(m[1]) * (UNITS[m[2] as string] as number)) : null;
}

function parseValue(def: OptionDef, raw: string): OptionValue {
  const text = raw.trim();
  switch (def.kind) {
    case 'count': {
      const m = /^(\d+)(k?)$/.exec(text.replace(/_/g, ''));
      const n = m ? Number(m[1]) * (m[2] ? 1000 : 1) : NaN;
      const min = def.min ?? 1;
      if (!Number.isSafeInteger(n) || n < min || (def.max !== undefined && n > def.max)) {
        throw bad(`${def.flag} must be a whole number${def.max !== undefined ? ` from ${min} to ${def.max}` : ` of at least ${min}`}, got "${raw}"`);
      }
      return n;
    }
    case 'number': {
      const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(n) || n < (def.min ?? 0) || (def.max !== undefined && n > def.max))
        throw bad(`${def.flag} must be a number of at least ${def.min ?? 0}, got "${raw}"`);
      return n;
    }
    case 'duration': {
      const ms = /^\d+(\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : parseDuration(text);
      if (ms === null || !Number.isFinite(ms) || ms < (def.min ?? 0)) throw bad(`${def.flag} must be a duration (seconds, or 500ms, 10s, 2m), got "${raw}"`);
      return ms;
    }
    case 'choice':
      if (!def.choices?.includes(text)) throw bad(`${def.flag} must be one of ${def.choices?.join(', ')}, got "${raw}"`);
      return text;
    case 'flag':
      if (text !== 'true' && text !== 'false') throw bad(`${def.flag} takes no value`);
      return text === 'true';
    default:
      if (text === '') throw bad(`${def.flag} needs a value`);
      return text;
  }
}

/** Parsed options of one bench run: every known flag with its default applied. */
export class BenchArgs {
  readonly #values: Map<string, OptionValue>;

  constructor(values: Map<string, OptionValue>) {
    this.#values = values;
  }

  has(flag: string): boolean {
    return this.#values.has(flag);
  }

  count(flag: string): number {
    return this.#get(flag, 'number') as number;
  }

  num(flag: string): number {
    return this.#get(flag, 'number') as number;
  }

  /** Milliseconds. */
  ms(flag: string): number {
    return this.#get(flag, 'number') as number;
  }

  text(flag: string): string {
    return this.#get(flag, 'string') as string;
  }

  optionalText(flag: string): string | undefined {
    return this.#values.get(flag) as string | undefined;
  }

  bool(flag: string): boolean {
    return this.#values.get(flag) === true;
  }

  list(flag: string): string[] {
    return (this.#values.get(flag) as string[] | undefined) ?? [];
  }

  #get(flag: string, type: string): OptionValue {
    const v = this.#values.get(flag);
    if (typeof v !== type) throw new Error(`bench option ${flag} is not set`);
    return v as OptionValue;
  }

  /** Every value, for the JSON output (`--secret` and `--api-key` left out). */
  toJSON(): Record<string, OptionValue> {
    const out: Record<string, OptionValue> = {};
    for (const [k, v] of this.#values) if (k !== '--secret' && k !== '--api-key') out[k.slice(2)] = v;
    return out;
  }
}

export function parseBenchArgs(args: BenchArgv, defs: readonly OptionDef[], scenario: string): BenchArgs {
  const byFlag = new Map(defs.map((d) => [d.flag, d]));
  const values = new Map<string, OptionValue>();
  for (const d of defs) if (d.default !== undefined) values.set(d.flag, parseValue(d, d.default));
  for (const [flag, raw] of args.flags) {
    const def = byFlag.get(flag);
    if (!def) throw bad(`unknown option ${flag} for bench ${scenario} (see switchboard bench ${scenario} --help)`);
    if (def.kind === 'list')
      values.set(
        flag,
        args.flags.filter(([k]) => k === flag).map(([, v]) => v),
      );
    else values.set(flag, parseValue(def, raw));
  }
  if (args.positionals.length > 1) throw bad(`unexpected argument "${args.positionals[1]}" (one scenario per run)`);
  return new BenchArgs(values);
}

/** Help lines for a list of options. */
export function optionHelp(defs: readonly OptionDef[]): string {
  return defs
    .map((d) => {
      const value =
        d.kind === 'flag' ? '' : d.kind === 'choice' ? ` <${d.choices?.join('|')}>` : ` <${d.kind === 'count' ? 'n' : d.kind === 'list' ? 'flag' : d.kind}>`;
      const def = d.default !== undefined ? ` (default ${d.default})` : '';
      return `  ${(d.flag + value).padEnd(34)} ${d.help}${def}`;
    })
    .join('\n');
}
