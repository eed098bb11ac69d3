import { describe, expect, it, vi } from 'vitest';
import { SwitchboardError } from '../src/errors.js';
import { metrics } from '../src/metrics.js';
import { acceptConnect, createClient, flush, useFakes } from './fake-socket.js';

useFakes();

/** The points of a `metrics.push` frame: the values of its blocks. */
const pointsIn = (frame: { params?: unknown }): number =>
  (frame.params as { blocks: Array<{ values: unknown[] }> }).blocks.reduce((n, b) => n + b.values.length, 0);

/** What a promise rejected with (null when it resolved). */
const settled = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('the metrics SDK module: batched, acknowledged push', () => {
  it('sends the pushes of one flush window as one metrics.push and settles each with its answer', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client);
    const a = m.push('web.fps', 58, { labels: { page: '/' } });
    const b = m.push('web.fps', 61, { ts: 1_700_000_000_000 });
    expect(socket.commands('metrics.push')).toHaveLength(0);
    vi.advanceTimersByTime(50);
    expect(socket.commands('metrics.push').map((f) => f.params)).toEqual([
      {
        blocks: [
          { series: 'web.fps', labels: { page: '/' }, values: [58] },
          { series: 'web.fps', ts: [1_700_000_000_000], values: [61] },
        ],
      },
    ]);
    socket.reply('metrics.push', { accepted: 2 });
    await expect(Promise.all([a, b])).resolves.toEqual([undefined, undefined]);
    expect(m.pending).toBe(0);
  });

  it('rejects every push of a refused batch with the reply error, data and retry delay included', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client);
    const pushes = [m.push('web.fps', 1), m.push('web.fps', 2)].map(settled);
    vi.advanceTimersByTime(50);
    socket.receive({
      id: socket.lastCommand('metrics.push').id,
      error: { code: 145, message: 'ingest rate limited', temporary: true, retryAfter: 120, data: { x: 1 } },
    });
    for (const err of await Promise.all(pushes)) {
      expect(err).toBeInstanceOf(SwitchboardError);
      expect(err).toMatchObject({ code: 145, temporary: true, retryAfter: 120, data: { x: 1 } });
    }
  });

  it('keeps every batch within maxBatchBytes and maxBatchPoints, and refuses a point larger than a batch at once', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client, { maxBatchBytes: 1024, maxBatchPoints: 10 });
    const pushes = Array.from({ length: 50 }, (_, i) => m.push('api.latency_ms', i, { labels: { route: `/r${i}` } }));
    vi.advanceTimersByTime(50);
    const sent = socket.commands('metrics.push');
    expect(sent.map(pointsIn).reduce((x, y) => x + y, 0)).toBe(50);
    for (const frame of sent) {
      expect(JSON.stringify(frame).length).toBeLessThanOrEqual(1024);
      expect(pointsIn(frame)).toBeLessThanOrEqual(10);
    }
    for (const frame of sent) socket.receive({ id: frame.id, result: { accepted: pointsIn(frame) } });
    await Promise.all(pushes);
    const big = await settled(m.push('api.latency_ms', 1, { labels: { route: 'x'.repeat(2000) } }));
    expect(big).toMatchObject({ code: 114 });
  });

  it('groups a batch into one block per series, label set and ts or not, each in push order, the label set as it was pushed', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client);
    const labels: Record<string, string> = { page: '/a' };
    const pushes = [
      m.push('web.fps', 1),
      m.push('web.lcp_ms', 800, { labels }),
      m.push('web.fps', 2, { ts: 1_700_000_000_001 }),
      m.push('web.fps', 3),
      m.push('web.lcp_ms', 900, { labels: { page: '/a' } }),
      m.push('web.lcp_ms', 700, { labels: { page: '/b' } }),
      m.push('web.fps', 4, { ts: 1_700_000_000_002 }),
      m.push('web.fps', -5.25),
    ];
    labels.page = '/changed';
    vi.advanceTimersByTime(50);
    expect(socket.commands('metrics.push').map((f) => f.params)).toEqual([
      {
        blocks: [
          { series: 'web.fps', values: [1, 3, -5.25] },
          { series: 'web.lcp_ms', labels: { page: '/a' }, values: [800, 900] },
          { series: 'web.fps', ts: [1_700_000_000_001, 1_700_000_000_002], values: [2, 4] },
          { series: 'web.lcp_ms', labels: { page: '/b' }, values: [700] },
        ],
      },
    ]);
    socket.reply('metrics.push', { accepted: 8 });
    await Promise.all(pushes);
  });

  it('starts a new batch when the bytes run out, and the series goes on in one block there', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    // 96 bytes of envelope, a block of web.fps opens with 33 and each value here takes 7: nine fit.
    const m = metrics(client, { maxBatchBytes: 96 + 33 + 9 * 7 + 6 });
    const fps = (k: number) => m.push('web.fps', 100_000 + k);
    const pushes = [...Array.from({ length: 10 }, (_, k) => fps(k + 1)), m.push('web.cls', 100_000), fps(11)];
    expect(socket.commands('metrics.push').map((f) => f.params)).toEqual([
      { blocks: [{ series: 'web.fps', values: Array.from({ length: 9 }, (_, k) => 100_001 + k) }] },
    ]);
    vi.advanceTimersByTime(50);
    expect(socket.commands('metrics.push')[1]?.params).toEqual({
      blocks: [
        { series: 'web.fps', values: [100_010, 100_011] },
        { series: 'web.cls', values: [100_000] },
      ],
    });
    for (const frame of socket.commands('metrics.push')) socket.receive({ id: frame.id, result: { accepted: pointsIn(frame) } });
    await Promise.all(pushes);
  });

  it('counts the bytes of any number exactly enough: no batch above maxBatchBytes, whatever the values and timestamps', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client, { maxBatchBytes: 400, maxBatchPoints: 1000 });
    const values = [0, -0, 9, 10, -99, 1e15 - 1, -1e15, 1e21, 0.1, -1.5e-7, Number.MAX_VALUE, 5e-324, 123456.789];
    const pushes: Array<Promise<void>> = [];
    for (let i = 0; i < 300; i++) {
      const v = values[i % values.length] as number;
      pushes.push(i % 3 === 0 ? m.push('web.fps', v, { ts: 1_000_000_000 * (i + 1) }) : m.push(i % 2 ? 'web.fps' : 'web.cls', v));
    }
    vi.advanceTimersByTime(50);
    const sent = socket.commands('metrics.push');
    expect(sent.length).toBeGreaterThan(10);
    for (const frame of sent) expect(JSON.stringify(frame).length).toBeLessThanOrEqual(400);
    expect(sent.map(pointsIn).reduce((x, y) => x + y, 0)).toBe(300);
    for (const frame of sent) socket.receive({ id: frame.id, result: { accepted: pointsIn(frame) } });
    await Promise.all(pushes);
  });

  it('refuses a value that is not a finite number, a bad ts or a label that is not a string at once, sending nothing', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client);
    const codes = await Promise.all(
      [
        m.push('web.fps', Number.NaN),
        m.push('web.fps', Number.POSITIVE_INFINITY),
        m.push('web.fps', '1' as unknown as number),
        m.push('web.fps', 1, { ts: 1.5 }),
        m.push('web.fps', 1, { ts: -1 }),
        m.push('web.fps', 1, { labels: { page: 1 as unknown as string } }),
        m.push('', 1),
      ].map((p) => settled(p).then((e) => (e as SwitchboardError).code)),
    );
    expect(codes).toEqual([135, 135, 135, 136, 136, 107, 107]);
    vi.advanceTimersByTime(50);
    expect(socket.commands('metrics.push')).toHaveLength(0);
  });

  it('queues while not connected (bounded by maxPending, 23 beyond), sends after connected, and rejects a batch in flight on a drop with 21', async () => {
    const client = createClient();
    const m = metrics(client, { maxPending: 2 });
    const queued = [m.push('web.fps', 1), m.push('web.fps', 2)];
    expect(await settled(m.push('web.fps', 3))).toMatchObject({ code: 23, temporary: true });
    client.connect();
    const socket = acceptConnect();
    await flush();
    expect(socket.commands('metrics.push')).toHaveLength(1);
    socket.reply('metrics.push', { accepted: 2 });
    await Promise.all(queued);

    const inFlight = settled(m.push('web.fps', 4));
    vi.advanceTimersByTime(50);
    expect(socket.commands('metrics.push')).toHaveLength(2);
    socket.serverClose(3000, 'restart');
    expect(await inFlight).toMatchObject({ code: 21, temporary: true });
    expect(m.pending).toBe(0);
  });

  it('flush() sends at once; the module is one per client', async () => {
    const client = createClient();
    client.connect();
    const socket = acceptConnect();
    const m = metrics(client, { flushInterval: 10_000 });
    expect(metrics(client)).toBe(m);
    const p = m.push('web.fps', 1);
    const flushed = m.flush();
    expect(socket.commands('metrics.push')).toHaveLength(1);
    socket.reply('metrics.push', { accepted: 1 });
    await flushed;
    await p;
  });
});
