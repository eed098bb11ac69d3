import { z } from 'zod';

/**
 * Builders of option fields, shared by the core schema and the config sections of features,
 * so every option is coerced from flags and environment text the same way and its help
 * line ends with its default.
 */

export { duration } from './duration.js';

/** An integer option in [min, max]; as text, digits only (`abc`, `1e3` and `12.5` are refused by name). */
export const int = (def: number, min: number, max: number, description: string) =>
  z
    .preprocess(
      (v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
      z
        .number({ error: (issue) => `expected an integer from ${min} to ${max}, got ${JSON.stringify(issue.input)}` })
        .int()
        .min(min)
        .max(max),
    )
    .default(def)
    .describe(`${description} (default ${def})`);

/** A boolean option; also `true`/`false`/`1`/`0` as text. */
export const bool = (def: boolean, description: string) =>
  z
    .preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean())
    .default(def)
    .describe(`${description} (default ${def})`);

/** A list of strings; comma separated as text. */
export const stringList = () =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(z.string()),
  );
