/**
 * Loaded into a server that `switchboard bench` spawns with `--expose-gc` (`node --import`)
 * when a scenario measures memory: on SIGUSR2 it runs two full garbage collections and
 * writes `process.memoryUsage()` as one JSON line to the file named by
 * `SB_BENCH_HEAP_FILE`, so the bench reads the live heap, not garbage not yet collected.
 */
import { writeFileSync } from 'node:fs';

const file = process.env['SB_BENCH_HEAP_FILE'];
const gc = (globalThis as { gc?: () => void }).gc;
if (file && gc) {
  process.on('SIGUSR2', () => {
    gc();
    gc();
    const m = process.memoryUsage();
    writeFileSync(
      file,
      `${JSON.stringify({ at: Date.now(), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss })}\n`,
    );
  });
}
