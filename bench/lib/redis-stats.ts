/** What Redis did during a measured window: `INFO commandstats` and `INFO cpu` deltas. */
import type { Redis } from 'ioredis';

export type CommandCounts = Map<string, number>;

export async function commandStats(redis: Redis): Promise<CommandCounts> {
  const out: CommandCounts = new Map();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

/** used_cpu_sys + used_cpu_user of the Redis server process, seconds. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

const diff = (a: CommandCounts, b: CommandCounts) => new Map([...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const));

export interface CommandsPerPublication {
  total: number;
  /** Commands of at least 0.05 per publication, rounded to 0.01. */
  breakdown: Record<string, number>;
}

/**
 * Redis commands per publication over a window, net of the idle rate measured before it
 * (heartbeats, health pings): `idle` = counts at the start and end of an idle interval of
 * `idleSeconds`, `window` = counts at the start and end of the measured `seconds`.
 * INFO itself is the bench's, not the nodes'.
 */
export function commandsPerPublication(
  idle: [CommandCounts, CommandCounts],
  idleSeconds: number,
  window: [CommandCounts, CommandCounts],
  seconds: number,
  published: number,
): CommandsPerPublication {
  const idleRate = diff(...idle);
  let total = 0;
  const breakdown: Record<string, number> = {};
  for (const [cmd, calls] of diff(...window)) {
    if (cmd === 'info') continue;
    const net = Math.max(0, calls - ((idleRate.get(cmd) ?? 0) / idleSeconds) * seconds) / published;
    total += net;
    if (net >= 0.05) breakdown[cmd] = Math.round(net * 100) / 100;
  }
  return { total: Math.round(total * 100) / 100, breakdown };
}
