import type { z } from 'zod';
import type { ConfigSchema } from './schema.js';

/** One settable option: its path in the config, its flag and environment names, its help. */
export interface OptionInfo {
  path: string[];
  key: string;
  flag: string;
  env: string;
  description: string;
  /** Structured values (records, arrays of objects) are given as JSON on the command line. */
  json: boolean;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

type Def = { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType>; in?: z.ZodType };

function unwrap(t: z.ZodType): z.ZodType {
  let cur = t;
  for (let i = 0; i < 10; i++) {
    const def = (cur as unknown as { _zod: { def: Def } })._zod.def;
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') && def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else break;
  }
  return cur;
}

function describe(t: z.ZodType): string {
  return (t as unknown as { description?: string }).description ?? '';
}

/** Every option of a config schema, flattened (nested objects become dotted paths). */
export function listOptions(schema: ConfigSchema): OptionInfo[] {
  const out: OptionInfo[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string[]) => {
    for (const [key, type] of Object.entries(shape)) {
      const inner = unwrap(type);
      const def = (inner as unknown as { _zod: { def: Def } })._zod.def;
      const path = [...prefix, key];
      if (def.type === 'object' && def.shape) {
        walk(def.shape, path);
        continue;
      }
      out.push({
        path,
        key: path.join('.'),
        flag: `--${path.map(kebab).join('.')}`,
        env: `SWITCHBOARD_${path.map(snake).join('_')}`,
        description: describe(type) || describe(inner),
        json: def.type === 'record' || (def.type === 'array' && path.join('.') !== 'allowedOrigins'),
      });
    }
  };
  walk((schema as unknown as { shape: Record<string, z.ZodType> }).shape, []);
  return out;
}

/** Short aliases kept for the README's commands. */
export const FLAG_ALIASES: Readonly<Record<string, string>> = { '--data': 'dataDir', '--secret': 'auth.secret' };
export const ENV_ALIASES: Readonly<Record<string, string>> = { SWITCHBOARD_SECRET: 'auth.secret', DATABASE_URL: 'database', REDIS_URL: 'redis' };
