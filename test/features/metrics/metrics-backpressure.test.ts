import { randomBytes } from 'node:crypto';
import type { MetricFrame } from '@switchboard/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../../helpers/raw-client.js';
import { type MetricsServer, startMetricsServer } from './helpers.js';

/**
 * A metric subscription on a congested connection (a paused socket on loopback): it builds no
 * frame while the backlog is above `limits.queueSignalDropBytes`, merges the changed buckets,
 * and once the socket drains sends one frame with all of them and how many updates it skipped.
 * It never gets the connection closed as a slow consumer, and the reliable channel on the same
 * connection loses nothing.
 */

const CAPS = { 'metrics:*': ['subscribe'], 'project:*': ['subscribe', 'publish', 'signal'] };

describe('metric subscription under backpressure', () => {
  let m: MetricsServer;

  beforeAll(async () => {
    m = await startMetricsServer(
      {},
      {
        limits: {
          queueSignalDropBytes: 16_384,
          publishPerSecondPerConnection: 100_000,
          eventsPerMinutePerUser: 10_000_000,
          commandsPerSecond: 100_000,
          signalsPerSecond: 100_000,
        },
      },
    );
  });
  afterAll(async () => {
    await m?.s.close();
  });

  it('keeps only its newest pending frame, says what it skipped, loses no bucket and never closes the connection', async () => {
    const slow = await RawClient.connect(m.s.url, await m.s.token({ sub: 'slow', caps: CAPS }));
    const reply = await slow.call('metrics.subscribe', { series: 'queue.depth', stats: ['count', 'last'], maxRate: 10 });
    expect(reply.error).toBeUndefined();
    expect((await slow.call('subscribe', { channel: 'project:r' })).error).toBeUndefined();
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();

    // Fill the connection with reliable publications until the server sees it congested (a signal to it is dropped).
    const pub = await RawClient.connect(m.s.url, await m.s.token({ sub: 'pub', caps: CAPS }));
    expect((await pub.call('subscribe', { channel: 'project:r' })).error).toBeUndefined();
    const congested = () => (m.s.server.node.stats.drops.get('signal_backpressure') ?? 0) > 0;
    let published = 0;
    for (let i = 0; i < 3000 && !congested(); i++) {
      // Fresh random bytes each time: a repeated payload compresses to almost nothing against the previous one.
      const big = randomBytes(6000).toString('base64');
      expect((await pub.call('publish', { channel: 'project:r', data: { i, big } })).error).toBeUndefined();
      published++;
      await pub.call('signal', { channel: 'project:r', key: `k${i}`, data: i });
    }
    expect(congested()).toBe(true);

    // 3 s of points on the server clock while congested: 30 frames were due, none is built.
    let points = 0;
    for (let i = 0; i < 30; i++) {
      m.clock.advance(100);
      expect((await m.ingest({ series: 'queue.depth', values: [i, i + 1] })).status).toBe(200);
      points += 2;
    }
    const framesBefore = slow.frames.length;
    expect(m.s.server.node.stats.disconnects.get(3006) ?? 0).toBe(0);

    socket.resume();
    const metricFrames = (): MetricFrame[] =>
      slow.frames.filter((f) => f.push === 'feature' && f['feature'] === 'metrics').map((f) => f['data'] as MetricFrame);
    const held = (): Map<number, number> => {
      const counts = new Map<number, number>();
      for (const f of metricFrames()) {
        if (f.kind === 'backfill') counts.clear();
        for (const s of f.series)
          s.t.forEach((t, j) => {
            counts.set(f.base + t * f.step, s.v[0]?.[j] as number);
          });
      }
      return counts;
    };
    const total = () => [...held().values()].reduce((a, b) => a + b, 0);
    await slow.until(() => total() === points, 20_000, 'every point in the metric frames');

    expect(slow.frames.length).toBeGreaterThan(framesBefore);
    const updates = metricFrames().filter((f) => f.kind === 'update');
    // one frame carried the merged changes of the congested seconds, and said how many updates it skipped
    expect(updates.length).toBe(1);
    expect(updates[0]?.skipped).toBeGreaterThanOrEqual(20);
    expect(updates[0]?.series[0]?.t.length).toBe(4);
    // the reliable channel lost nothing, in order
    await slow.until(() => slow.pushes('pub', 'project:r').length === published, 20_000, 'every publication');
    expect(slow.pushes('pub', 'project:r').map((f) => (f['data'] as { i: number }).i)).toEqual([...Array(published).keys()]);
    expect(slow.closeCode).toBeNull();
    expect(m.s.server.node.stats.disconnects.get(3006) ?? 0).toBe(0);
    slow.close();
    pub.close();
  });
});
