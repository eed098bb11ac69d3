import { z } from 'zod';

/**
 * Builders of option fields, shared by the core schema and the config sections of features,
 * so every option is coerced from flags and environment text the same way and its help
 * line ends with its default.
 */

export { duration } from './duration.js';

/** An integer option in [min, max]. */
export const int = (def: number, min: number, max: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(`${description} (default ${def})`);

/** A boolean option; also `true`/`false`/`1`/`0` as text. */
export const bool = (def: boolean, description: string) =>
  z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean())
    .default(def)
    .describe(`${description} (default ${def})`);

/** A list of strings; comma separated as text. */
export const stringList = () =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(z.string()));
