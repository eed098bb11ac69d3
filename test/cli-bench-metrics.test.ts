import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `switchboard bench metrics-ingest` and `metrics-fanout` at tiny scale, through the built CLI.
 * Only the report's shape, exact counts and the checks are asserted, never timings or whether a
 * performance target was met: the machine is shared and noisy.
 */
const MAIN = join(import.meta.dirname, '..', 'packages', 'server', 'dist', 'cli', 'main.js');

// biome-ignore lint/suspicious/noExplicitAny: JSON output of the CLI, asserted field by field
type Json = Record<string, any>;

function benchJson(args: string[]): Promise<Json> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'bench', ...args, '--json', '--progress', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        expect(stderr).toBe('');
        expect(code, stdout).toBe(0);
        resolve(JSON.parse(stdout) as Json);
      } catch (err) {
        reject(err);
      }
    });
  });
}

function expectChecksPass(r: Json): void {
  expect(r.ok).toBe(true);
  expect(r.checks.length).toBeGreaterThan(0);
  for (const c of r.checks) expect(c.ok, `${c.name}: ${c.detail}`).toBe(true);
  for (const t of r.targets) expect(typeof t.met).toBe('boolean');
}

describe('switchboard bench, metric streams', () => {
  it('metrics-ingest: every batch over HTTP and every SDK push is accepted, and the live heap per series is read', async () => {
    const r = await benchJson([
      'metrics-ingest',
      '--duration',
      '1',
      '--batch',
      '500',
      '--parallel',
      '2',
      '--socket-clients',
      '3',
      '--socket-duration',
      '1',
      '--socket-rate',
      '600',
      '--spread-series',
      '50',
      '--spread-batch',
      '100',
      '--spread-duration',
      '1',
    ]);
    expect(r.scenario).toBe('metrics-ingest');
    expectChecksPass(r);
    // Its SDK clients are split over two generator processes unless --workers says otherwise.
    expect(r.generator.workers).toBe(2);
    const f = r.figures;
    // Each accepted HTTP batch is whole: points accepted are a multiple of the batch.
    expect(f.columnar.requests).toBeGreaterThan(0);
    expect(f.columnar.refused).toBe(0);
    expect(f.columnar.accepted).toBe(f.columnar.requests * 500);
    expect(f.columnar.requestLatency.count).toBe(f.columnar.requests);
    expect(f.columnar.serverCpuSecondsPerMillion).toBeGreaterThan(0);
    expect(f.socket.clients).toBe(3);
    expect(f.socket.accepted).toBe(f.socket.offered);
    expect(f.socket.pushLatency.count).toBe(f.socket.accepted);
    expect(f.spread.accepted).toBe(f.spread.requests * 100);
    expect(f.memory.series).toBe(50);
    expect(typeof f.memory.perSeries).toBe('number');
    expect(f.memory.heapAfter).toBeGreaterThan(0);
    expect(r.targets.map((t: { name: string }) => t.name)).toEqual([
      expect.stringContaining('into one series over HTTP'),
      expect.stringContaining('over the socket from 3 clients'),
      expect.stringContaining('over 50 series'),
      expect.stringContaining('per active series'),
    ]);
  }, 120_000);

  it('metrics-fanout: every subscription gets live frames of its series, none above its cap', async () => {
    const r = await benchJson([
      'metrics-fanout',
      '--subscribers',
      '6',
      '--series',
      '4',
      '--max-rate',
      '5',
      '--rate',
      '1000',
      '--duration',
      '2',
      '--warmup',
      '1',
    ]);
    expect(r.scenario).toBe('metrics-fanout');
    expectChecksPass(r);
    const f = r.figures;
    expect(f.subscribe).toMatchObject({ requested: 6, ok: 6, failed: 0 });
    expect(f.subscriptions).toMatchObject({ series: 4, maxRate: 5, rates: [5] });
    expect(f.frames.total).toBeGreaterThan(0);
    expect(f.frames.closerThanInterval).toBe(0);
    expect(f.frames.aboveCap).toBe(0);
    // Every series update names one of the subscription's 4 series.
    expect(f.frames.seriesUpdates).toBeLessThanOrEqual(4 * f.frames.total);
    expect(f.frames.bytesPerSeriesUpdate).toBeGreaterThan(0);
    expect(f.latency.oldest.count).toBeGreaterThan(0);
    expect(f.latency.newest.count).toBe(f.latency.oldest.count);
    expect(r.targets.find((t: { name: string }) => t.name.includes('above any subscriber'))?.met).toBe(true);
  }, 120_000);
});
