import { readFileSync } from 'node:fs';
import { createError, SwitchboardError } from '../errors/sb-error.js';
import { ENV_ALIASES, FLAG_ALIASES, listOptions, type OptionInfo } from './options.js';
import type { Config, ConfigInput, ConfigSchema } from './schema.js';

type Tree = { [key: string]: unknown };

function setPath(tree: Tree, path: string[], value: unknown): void {
  let cur = tree;
  for (const part of path.slice(0, -1)) {
    const next = Object.hasOwn(cur, part) ? cur[part] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as Tree;
  }
  cur[path[path.length - 1] as string] = value;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = Object.hasOwn(out, k) ? out[k] : undefined;
    if (v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) && k !== 'namespaces')
      out[k] = merge(b as Tree, v as Tree);
    else out[k] = v;
  }
  return out;
}

/** JSON.parse that refuses `__proto__` keys, so a config cannot reach an object's prototype. */
function parseJson(text: string, where: string): unknown {
  return JSON.parse(text, (key, value: unknown) => {
    if (key === '__proto__') throw createError('SB_ERR_CONFIG_INVALID', `${where}: "__proto__" is not a valid key`);
    return value;
  });
}

function parseValue(opt: OptionInfo, raw: string, source: string): unknown {
  if (!opt.json) return raw;
  try {
    return parseJson(raw, `${opt.key} (${source})`);
  } catch (err) {
    if (err instanceof SwitchboardError) throw err;
    throw createError('SB_ERR_CONFIG_INVALID', `${opt.key} (${source}): expected JSON`);
  }
}

/** Options from SWITCHBOARD_* variables. */
export function fromEnv(env: NodeJS.ProcessEnv, schema: ConfigSchema): Tree {
  const tree: Tree = {};
  const options = listOptions(schema);
  for (const opt of options) {
    const raw = env[opt.env];
    if (raw !== undefined && raw !== '') setPath(tree, opt.path, parseValue(opt, raw, opt.env));
  }
  for (const [name, key] of Object.entries(ENV_ALIASES)) {
    const raw = env[name];
    const opt = options.find((o) => o.key === key);
    if (raw && opt && env[opt.env] === undefined) setPath(tree, opt.path, raw);
  }
  return tree;
}

/** Options from `--flag value` / `--flag=value` pairs (already split from positional args). */
export function fromFlags(flags: ReadonlyMap<string, string>, schema: ConfigSchema): Tree {
  const tree: Tree = {};
  const options = listOptions(schema);
  for (const [flag, raw] of flags) {
    const alias = Object.hasOwn(FLAG_ALIASES, flag) ? FLAG_ALIASES[flag] : undefined;
    const opt = options.find((o) => o.flag === flag || o.key === alias);
    if (!opt) throw createError('SB_ERR_CONFIG_INVALID', `unknown option ${flag} (see --help)`);
    setPath(tree, opt.path, parseValue(opt, raw, flag));
  }
  return tree;
}

export function fromFile(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw createError('SB_ERR_CONFIG_FILE', `${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = parseJson(text, path);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Tree;
  } catch (err) {
    if (err instanceof SwitchboardError) throw err;
    throw createError('SB_ERR_CONFIG_FILE', `${path}: not a JSON object (${(err as Error).message})`);
  }
}

/** Validate once, strictly, and freeze. Every problem names its option, flag and variable. */
export function parseConfig(input: ConfigInput | Tree, schema: ConfigSchema): Readonly<Config> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const options = listOptions(schema);
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.');
      const opt = options.find((o) => key === o.key || key.startsWith(`${o.key}.`));
      const where = opt ? `${key} (${opt.flag} / ${opt.env})` : key || '(root)';
      const extra =
        issue.code === 'unrecognized_keys' ? `: unknown option ${issue.keys.map((k) => (key ? `${key}.${k}` : k)).join(', ')}` : `: ${issue.message}`;
      return `  ${where}${extra}`;
    });
    throw createError('SB_ERR_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

export interface LoadArgs {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: ReadonlyMap<string, string>;
  overrides?: Tree;
}

/** Defaults < config file < environment < flags. */
export function loadConfig(args: LoadArgs & { schema: ConfigSchema }): Readonly<Config> {
  const { schema } = args;
  const env = args.env ?? process.env;
  const file = args.file ?? env['SWITCHBOARD_CONFIG'];
  let tree: Tree = file ? fromFile(file) : {};
  tree = merge(tree, fromEnv(env, schema));
  if (args.flags) tree = merge(tree, fromFlags(args.flags, schema));
  if (args.overrides) tree = merge(tree, args.overrides);
  return parseConfig(tree, schema);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The config functions bound to one schema: the kernel's options plus a set of features' sections. */
export function configApi(schema: ConfigSchema) {
  return {
    schema,
    listOptions: (): OptionInfo[] => listOptions(schema),
    parseConfig: (input: ConfigInput | Tree): Readonly<Config> => parseConfig(input, schema),
    loadConfig: (args: LoadArgs): Readonly<Config> => loadConfig({ ...args, schema }),
    fromEnv: (env: NodeJS.ProcessEnv): Tree => fromEnv(env, schema),
    fromFlags: (flags: ReadonlyMap<string, string>): Tree => fromFlags(flags, schema),
  };
}
