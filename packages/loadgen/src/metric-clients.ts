/**
 * A worker's share of the metric scenarios: raw connections that each hold one metric
 * subscription and time its frames (metrics-fanout), and SDK clients that push points with
 * `metrics(client).push` (metrics-ingest over the socket). Lives beside the worker's ConnectionSet.
 */
import { SwitchboardClient } from '@switchboard/client';
import { metrics } from '@switchboard/client/metrics';
import type { Push } from '@switchboard/protocol';
import { WebSocket } from 'ws';
import { Histogram } from './histogram.js';
import type { CountersReply, MetricPushReply, MetricPushRequest, MetricResultsReply, MetricWatchReply, MetricWatchRequest } from './ipc.js';
import { urlFor } from './ipc.js';
import { nowUs, sleep, withTimeout } from './proc.js';
import { mintToken } from './token.js';
import { ReplyFailure, WireConnection } from './wire.js';

interface MetricFrameData {
  id: string;
  kind: 'backfill' | 'update';
  at: number;
  skipped: number;
  series: Array<{ i: number; t: number[]; v: Array<Array<number | null>> }>;
}

/** One subscription's view: the newest `last` per series of the schema, and its frames per second of `at`. */
interface Watcher {
  conn: WireConnection;
  ingestIntervalMs: number;
  lastIdx: number;
  intervalMs: number;
  rate: number;
  prevLast: Array<number | undefined>;
  prevAt: number;
  second: number;
  inSecond: number;
  frames: number;
}

const firstLine = (err: unknown) =>
  err instanceof ReplyFailure ? `${err.reply.code} ${err.reply.message}` : (err instanceof Error ? err.message : String(err)).split('\n')[0];

export class MetricClients {
  #watchers: Watcher[] = [];
  #pushers: SwitchboardClient[] = [];
  #failed = 0;
  #closing = false;
  #frames = 0;
  #seriesUpdates = 0;
  #bucketUpdates = 0;
  #bytes = 0;
  #skipped = 0;
  #closer = 0;
  #aboveCap = 0;
  #maxPerSecond = 0;
  #pushed = 0;
  readonly #newest = new Histogram();
  readonly #oldest = new Histogram();
  readonly #recent = new Histogram();
  readonly #lost: Record<string, number> = {};

  /** Open the watchers of `req`, `concurrency` at a time, each subscribed (its backfill not measured). */
  async watch(req: MetricWatchRequest): Promise<MetricWatchReply> {
    const { target } = req;
    const latency = new Histogram();
    const errors: string[] = [];
    const rates = new Set<number>();
    let next = 0;
    let ok = 0;
    const caps = { 'metrics:*': ['subscribe'] };
    const one = async (g: number): Promise<void> => {
      const t0 = nowUs();
      const watcher: Watcher = {
        conn: null as unknown as WireConnection,
        ingestIntervalMs: req.ingestIntervalMs,
        lastIdx: 0,
        intervalMs: 0,
        rate: 0,
        prevLast: [],
        prevAt: 0,
        second: 0,
        inSecond: 0,
        frames: 0,
      };
      const conn = new WireConnection(urlFor(target, g), {
        ...(req.addresses.length ? { localAddress: req.addresses[g % req.addresses.length] } : {}),
        onRaw: (text) => {
          if (text.includes('"event":"frame"') && text.includes('"kind":"update"')) this.#bytes += Buffer.byteLength(text);
          return false;
        },
        onPush: (push) => this.#onPush(watcher, push),
        onLost: (code) => {
          if (!this.#closing) this.#lost[code] = (this.#lost[code] ?? 0) + 1;
        },
      });
      watcher.conn = conn;
      try {
        const token = await mintToken(target.secret, { sub: `mw${g}`, tenant: target.tenant, caps, ttlSeconds: target.tokenTtlSeconds });
        await withTimeout(conn.opened, req.timeoutMs, 'open');
        await withTimeout(conn.call('connect', { token, name: 'switchboard-bench' }), req.timeoutMs, 'connect');
        const series = Array.from({ length: req.perWatcher }, (_, j) => req.pool[(g * req.perWatcher + j) % req.pool.length] as string);
        const reply = (await withTimeout(
          conn.command('metrics.subscribe', { series, resolution: '1s', window: req.window, stats: req.stats, maxRate: req.maxRate }, (r) => {
            const result = r as { rate: number; columns: string[] };
            watcher.lastIdx = result.columns.indexOf('last');
            watcher.rate = result.rate;
            watcher.intervalMs = 1000 / result.rate;
          }),
          req.timeoutMs,
          'metrics.subscribe',
        )) as { rate: number };
        rates.add(reply.rate);
        latency.record(nowUs() - t0);
        this.#watchers.push(watcher);
        ok++;
      } catch (err) {
        this.#failed++;
        conn.terminate();
        if (errors.length < 5) errors.push(`watcher ${g}: ${firstLine(err)}`);
      }
    };
    const lane = async (): Promise<void> => {
      while (next < req.count) await one(req.base + next++);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.count)) }, lane));
    return { type: 'metric-watching', ok, failed: req.count - ok, errors, latency: latency.data(), rates: [...rates] };
  }

  #onPush(w: Watcher, push: Push): void {
    if (push.push !== 'feature') return;
    const p = push as unknown as { feature: string; event: string; data: MetricFrameData };
    if (p.feature !== 'metrics' || p.event !== 'frame') return;
    const f = p.data;
    const recvMs = nowUs() / 1000;
    if (f.kind === 'update') {
      this.#frames++;
      w.frames++;
      this.#skipped += f.skipped;
      if (w.prevAt > 0 && f.at - w.prevAt < w.intervalMs - 1e-9) this.#closer++;
      w.prevAt = f.at;
      const second = Math.floor(f.at / 1000);
      if (second !== w.second) {
        w.second = second;
        w.inSecond = 0;
      }
      w.inSecond++;
      if (w.inSecond > w.rate) this.#aboveCap++;
      if (w.inSecond > this.#maxPerSecond) this.#maxPerSecond = w.inSecond;
    }
    for (const s of f.series) {
      // The newest bucket of the series carries the newest point: its `last` is that point's send time.
      let newestJ = 0;
      for (let j = 1; j < s.t.length; j++) if ((s.t[j] as number) > (s.t[newestJ] as number)) newestJ = j;
      const last = s.v[w.lastIdx]?.[newestJ];
      if (typeof last !== 'number') continue;
      const prev = w.prevLast[s.i];
      if (f.kind === 'update') {
        this.#seriesUpdates++;
        this.#bucketUpdates += s.t.length;
        if (prev !== undefined && last > prev) {
          const newest = (recvMs - last) * 1000;
          this.#newest.record(newest);
          this.#recent.record(newest);
          // Every point of a batch was sent with its last one; the batch after `prev`'s went one interval later.
          this.#oldest.record((recvMs - Math.min(last, prev + w.ingestIntervalMs)) * 1000);
        }
      }
      if (prev === undefined || last > prev) w.prevLast[s.i] = last;
    }
  }

  /** Open `req.count` SDK clients, then push at `req.rate` points/s over them for `req.durationMs`. */
  async push(req: MetricPushRequest): Promise<MetricPushReply> {
    const { target } = req;
    const errors: string[] = [];
    const clients: SwitchboardClient[] = [];
    await Promise.all(
      Array.from({ length: req.count }, async (_, k) => {
        const g = req.base + k;
        try {
          const token = await mintToken(target.secret, {
            sub: `mp${g}`,
            tenant: target.tenant,
            caps: { 'metrics:*': ['ingest'] },
            ttlSeconds: target.tokenTtlSeconds,
          });
          const client = new SwitchboardClient(urlFor(target, g), {
            token,
            WebSocket: WebSocket as never,
            transports: ['websocket'],
            name: 'switchboard-bench',
          });
          const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
          client.connect();
          await withTimeout(connected, req.timeoutMs, 'connect');
          clients.push(client);
        } catch (err) {
          if (errors.length < 5) errors.push(`client ${g}: ${firstLine(err)}`);
        }
      }),
    );
    this.#pushers.push(...clients);
    const pushers = clients.map((c) => metrics(c));
    const latency = new Histogram();
    const refusals: Record<string, number> = {};
    let offered = 0;
    let accepted = 0;
    let refused = 0;
    let heldBack = 0;
    const startUs = nowUs();
    const endUs = startUs + req.durationMs * 1000;
    let next = 0;
    let due = 0;
    // One ticker for every client: points due by now go out round robin over the clients.
    while (pushers.length > 0 && nowUs() < endUs) {
      due = Math.floor(((nowUs() - startUs) / 1e6) * req.rate);
      const t0 = nowUs();
      while (next < due) {
        const m = pushers[next % pushers.length] as ReturnType<typeof metrics>;
        next++;
        if (m.pending >= req.maxPending) {
          heldBack++;
          continue;
        }
        offered++;
        m.push(req.series, next % 997).then(
          () => {
            accepted++;
            this.#pushed++;
            latency.record(nowUs() - t0);
          },
          (err: unknown) => {
            refused++;
            const key = err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : 'failed';
            refusals[key] = (refusals[key] ?? 0) + 1;
          },
        );
      }
      await sleep(5);
    }
    for (const m of pushers) m.flush();
    const settleEnd = nowUs() + 10e6;
    while (accepted + refused < offered && nowUs() < settleEnd) await sleep(20);
    return {
      type: 'metric-pushed',
      clients: clients.length,
      failedClients: req.count - clients.length,
      errors,
      offered,
      accepted,
      refused,
      refusals,
      heldBack,
      latency: latency.data(),
      startUs,
      endUs: nowUs(),
    };
  }

  results(): MetricResultsReply {
    return {
      type: 'metric-results',
      watchers: this.#watchers.length,
      frames: this.#frames,
      seriesUpdates: this.#seriesUpdates,
      bucketUpdates: this.#bucketUpdates,
      bytes: this.#bytes,
      skipped: this.#skipped,
      closerThanInterval: this.#closer,
      aboveCapPerSecond: this.#aboveCap,
      maxPerSecond: this.#maxPerSecond,
      newest: this.#newest.data(),
      oldest: this.#oldest.data(),
      lost: { ...this.#lost },
      minFramesPerWatcher: this.#watchers.length ? Math.min(...this.#watchers.map((w) => w.frames)) : 0,
    };
  }

  /** Start measuring afresh (after the warm-up). */
  reset(): void {
    this.#frames = 0;
    this.#seriesUpdates = 0;
    this.#bucketUpdates = 0;
    this.#bytes = 0;
    this.#skipped = 0;
    this.#closer = 0;
    this.#aboveCap = 0;
    this.#maxPerSecond = 0;
    this.#newest.reset();
    this.#oldest.reset();
    for (const w of this.#watchers) {
      w.frames = 0;
      w.inSecond = 0;
      w.second = 0;
    }
  }

  addTo(c: CountersReply): CountersReply {
    if (this.#watchers.length === 0 && this.#pushers.length === 0 && this.#failed === 0) return c;
    const recent = Histogram.merge([c.recent, this.#recent.data()]);
    this.#recent.reset();
    return {
      ...c,
      open: c.open + this.#watchers.length + this.#pushers.length,
      failed: c.failed + this.#failed,
      received: c.received + this.#frames,
      measured: c.measured + this.#frames + this.#pushed,
      recent: recent.data(),
    };
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#watchers.map((w) => w.conn.close(2000)));
    for (const c of this.#pushers) c.disconnect();
    this.#watchers = [];
    this.#pushers = [];
  }
}
