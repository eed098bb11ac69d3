import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parse "250ms", "10s", "5m", "1h", "7d" or a plain number of milliseconds. */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) return /^\d+$/.test(value.trim()) ? Number(value.trim()) : null;
  return Math.round(Number(m[1]) * (UNITS[m[2] as string] as number));
}

/** A duration option: accepts "10s"-style strings or milliseconds; yields milliseconds. */
export function duration(defaultValue: string, description: string) {
  return z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like "250ms", "10s", "5m", "1h" or milliseconds, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    })
    .default(parseDuration(defaultValue) as number)
    .describe(`${description} (duration, default ${defaultValue})`);
}
