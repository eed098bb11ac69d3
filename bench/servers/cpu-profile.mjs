// @ts-check
/**
 * Preload (`NODE_OPTIONS=--import=<this file>`) that CPU-profiles a measured window of a
 * process the bench did not write, e.g. a test-cluster node: the first SIGUSR2 starts the
 * profiler (100 µs sampling), the second stops it and writes SB_CPU_PROFILE, then prints
 * `SB_CPU_PROFILE_WRITTEN` on stderr. (`--cpu-prof` is not allowed in NODE_OPTIONS.)
 */
import { profile } from './harness.mjs';

const file = process.env['SB_CPU_PROFILE'];
let on = false;
process.on('SIGUSR2', () => {
  const action = on ? 'stop' : 'start';
  on = !on;
  profile(action, file).then(
    () => {
      if (action === 'stop') process.stderr.write('SB_CPU_PROFILE_WRITTEN\n');
    },
    (err) => process.stderr.write(`profile ${action} failed: ${err}\n`),
  );
});
