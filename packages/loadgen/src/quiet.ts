import { clockTicksPerSecond, OtherLoad, sleep } from './proc.js';

/** Background load (% of a core) above which a measurement counts as disturbed. */
export const NOISY_PCT = 25;

/**
 * Wait (at most `maxSeconds`) until processes other than `ours` use under 15 % of a core,
 * so they do not skew the figures. Returns without waiting when `maxSeconds` is 0.
 */
export async function waitQuiet(ours: number[], maxSeconds: number, log: (line: string) => void): Promise<void> {
  if (maxSeconds <= 0) return;
  const deadline = Date.now() + maxSeconds * 1000;
  let warned = false;
  for (;;) {
    const probe = new OtherLoad([process.pid, ...ours]);
    await sleep(2000);
    const load = probe.pct(clockTicksPerSecond());
    const pct = load.normal + load.niced;
    if (pct < 15) return;
    if (Date.now() > deadline) {
      log(`  other processes still use ${pct.toFixed(0)} % of a core after ${maxSeconds} s; measuring anyway (see "other processes CPU %")`);
      return;
    }
    if (!warned) log(`  waiting for a quiet machine: other processes use ${pct.toFixed(0)} % of a core`);
    warned = true;
  }
}

/**
 * Run a measurement; while other processes used more than NOISY_PCT of a core during it,
 * repeat it (at most `retries` more times) and keep the least disturbed attempt.
 */
export async function quietest<T extends { attempts: number }>(
  what: string,
  fn: () => Promise<T>,
  background: (r: T) => number,
  retries: number,
  log: (line: string) => void,
): Promise<T> {
  let best = await fn();
  let attempts = 1;
  while (background(best) > NOISY_PCT && attempts <= retries) {
    log(`  ${what}: other processes used ${background(best).toFixed(0)} % of a core while measuring; repeating`);
    const again = await fn();
    attempts++;
    if (background(again) < background(best)) best = again;
  }
  best.attempts = attempts;
  return best;
}
