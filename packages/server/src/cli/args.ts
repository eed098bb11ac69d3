import { createError } from '../errors/sb-error.js';

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  /** `--name value` and `--name=value`, in order; repeated flags keep every value. */
  flags: Array<[string, string]>;
  help: boolean;
}

const BOOLEAN_FLAGS = new Set(['--help', '-h', '--json', '--admin', '--read-only']);

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags: Array<[string, string]> = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq !== -1) {
      flags.push([arg.slice(0, eq), arg.slice(eq + 1)]);
      continue;
    }
    if (BOOLEAN_FLAGS.has(arg)) {
      flags.push([arg, 'true']);
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw createError('SB_ERR_CLI_ARGS', `${arg} needs a value`);
    flags.push([arg, value]);
    i++;
  }
  return { command: positionals[0], positionals: positionals.slice(1), flags, help };
}

/** The last value of a flag, if given. */
export function flag(args: ParsedArgs, name: string): string | undefined {
  let value: string | undefined;
  for (const [k, v] of args.flags) if (k === name) value = v;
  return value;
}

export function flagAll(args: ParsedArgs, name: string): string[] {
  return args.flags.filter(([k]) => k === name).map(([, v]) => v);
}
