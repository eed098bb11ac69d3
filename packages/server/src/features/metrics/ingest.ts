import { ErrorCode, type ErrorCodeInfo } from '@switchboard/protocol';
import { Counter, type Registry } from 'prom-client';
import type { RatesView } from '../../core/context.js';
import { TokenBucket } from '../../engine/token-bucket.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { MetricsConfig } from './config.js';
import { known, type StoredMetrics, seriesOf } from './known-series.js';
import type { ColumnBlock, MetricStores, PointInput, Verdict } from './metric-stores.js';

/** The points of a columnar block, in order. */
export function blockPoints(b: ColumnBlock): PointInput[] {
  const out: PointInput[] = new Array(b.values.length);
  for (let i = 0; i < b.values.length; i++) out[i] = { series: b.series, labels: b.labels, ts: b.ts?.[i], value: b.values[i] };
  return out;
}

/** The reply error refusing a batch of `n` points whole, from its verdict. */
function refusedBatch(verdict: Verdict, n: number): ReplyError {
  const head = verdict.problems[0];
  const err = new ReplyError(verdict.first as ErrorCodeInfo, `${verdict.total} of ${n} points refused, nothing written; point ${head?.index}: ${head?.reason}`);
  err.data = { refused: verdict.total, problems: verdict.problems };
  return err;
}

/** Where a batch of points came from: a request, a socket command, or the demo workspace's built-in generator (demo-generator.ts). */
export type IngestTransport = 'http' | 'socket' | 'generator';

/** The Prometheus counters of ingest, by transport. */
interface IngestCounters {
  points: Counter<'transport'>;
  batches: Counter<'transport'>;
  refused: Counter<'transport' | 'code'>;
}

/** `points`: the cumulative points written per transport, which the Prometheus counter mirrors at scrape (and the system scope reads). */
function ingestCounters(registry: Registry, points: ReadonlyMap<IngestTransport, number>): IngestCounters {
  return {
    points: new Counter({
      name: 'switchboard_metric_points_ingested_total',
      help: 'Metric points written, by transport (http, socket, generator)',
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [transport, n] of points) this.inc({ transport }, n);
      },
    }),
    batches: new Counter({
      name: 'switchboard_metric_batches_ingested_total',
      help: 'Metric ingest batches written (an HTTP request or a metrics.push command), by transport',
      labelNames: ['transport'],
      registers: [registry],
    }),
    refused: new Counter({
      name: 'switchboard_metric_batches_refused_total',
      help: 'Metric ingest batches refused whole, by transport and reply error code',
      labelNames: ['transport', 'code'],
      registers: [registry],
    }),
  };
}

/**
 * The one ingest path of HTTP and the socket: the batch cap, the tenant's budget, the tenant's
 * series declared over HTTP that this node has not loaded yet, the check of every point, then
 * the write — all or nothing. The budget is a token bucket per tenant (`ingestRate` points/s,
 * holding one second of points and at least one full batch), shared by every node where the
 * engine's rate buckets are (Redis, the workers of one host: one round trip per batch), this
 * node's own on the memory engine; a batch takes its points before it is checked, since
 * checking costs about as much as writing, and is refused whole (145, temporary, with the
 * delay until it would fit) when they are not there.
 */
export class Ingest {
  readonly #stores: MetricStores;
  readonly #config: MetricsConfig;
  readonly #now: () => number;
  readonly #counters: IngestCounters;
  readonly #budgets = new Map<string, TokenBucket>();
  readonly #stored: (() => StoredMetrics) | undefined;
  readonly #points = new Map<IngestTransport, number>();
  /** The engine's rate buckets, used when several nodes share them. */
  readonly #rates: RatesView | undefined;

  constructor(stores: MetricStores, config: MetricsConfig, now: () => number, registry: Registry, stored?: () => StoredMetrics, rates?: RatesView) {
    this.#stores = stores;
    this.#rates = rates;
    this.#stored = stored;
    this.#config = config;
    this.#now = now;
    this.#counters = ingestCounters(registry, this.#points);
  }

  /** Points written per transport since start (what `switchboard_metric_points_ingested_total` exports). */
  points(): Iterable<[IngestTransport, number]> {
    return this.#points;
  }

  /**
   * Write a batch of a tenant's points, or throw the reply error that refuses it whole (nothing
   * written). `authorize` runs first (the socket's capability check), its refusal counted too.
   */
  async push(tenant: string, points: readonly PointInput[], transport: IngestTransport, authorize?: (points: readonly PointInput[]) => void): Promise<number> {
    try {
      authorize?.(points);
      return await this.#push(tenant, points, transport);
    } catch (err) {
      if (err instanceof ReplyError) this.#counters.refused.inc({ transport, code: String(err.code) });
      throw err;
    }
  }

  /**
   * `push` of columnar blocks, the same answers and the same points stored as `push` of their
   * points (`blockPoints`, block after block), without an object per point: each block is
   * checked and written as one store in tight loops; only a refused batch is checked again
   * point by point, for the refusal's problems. `authorize` runs first, as for `push`.
   */
  async pushBlocks(
    tenant: string,
    blocks: readonly ColumnBlock[],
    transport: IngestTransport,
    authorize?: (blocks: readonly ColumnBlock[]) => void,
  ): Promise<number> {
    let n = 0;
    for (const b of blocks) n += b.values.length;
    if (n === 0) return this.push(tenant, [], transport, authorize && (() => authorize(blocks)));
    try {
      authorize?.(blocks);
      await this.#admit(tenant, n, [...new Set(blocks.map((b) => b.series))]);
      const keys = this.#stores.checkBlocks(tenant, blocks);
      if (keys !== null) return this.#written(transport, this.#stores.writeBlocks(tenant, blocks, keys));
      return this.#checkAndWrite(tenant, blocks.length === 1 ? blockPoints(blocks[0] as ColumnBlock) : blocks.flatMap(blockPoints), transport);
    } catch (err) {
      if (err instanceof ReplyError) this.#counters.refused.inc({ transport, code: String(err.code) });
      throw err;
    }
  }

  async #push(tenant: string, points: readonly PointInput[], transport: IngestTransport): Promise<number> {
    await this.#admit(tenant, points.length, seriesOf(points));
    return this.#checkAndWrite(tenant, points, transport);
  }

  /** Check every point, then write them all, or refuse the whole batch (nothing written) naming each problem. */
  #checkAndWrite(tenant: string, points: readonly PointInput[], transport: IngestTransport): number {
    const verdict = this.#stores.check(tenant, points);
    if (verdict.first) throw refusedBatch(verdict, points.length);
    return this.#written(transport, this.#stores.write(tenant, points, verdict));
  }

  /** The batch cap, the tenant's budget and the tenant's series not loaded yet, for a batch of `n` points. */
  async #admit(tenant: string, n: number, series: Iterable<string>): Promise<void> {
    const max = this.#config.maxPoints;
    if (n > max) throw new ReplyError(ErrorCode.LimitExceeded, `${n} points in one batch; at most ${max}`);
    const wait = await this.#take(tenant, n);
    if (wait > 0) {
      throw new ReplyError(
        ErrorCode.IngestRateLimited,
        `the tenant's budget of ${this.#config.ingestRate} points/s is spent; nothing written, retry in ${wait} ms`,
        wait,
      );
    }
    await known(this.#stores, this.#stored, tenant, series);
  }

  #written(transport: IngestTransport, written: number): number {
    this.#points.set(transport, (this.#points.get(transport) ?? 0) + written);
    this.#counters.batches.inc({ transport });
    return written;
  }

  /** Take `n` points from the tenant's budget: 0, or the ms until they would be there. */
  async #take(tenant: string, n: number): Promise<number> {
    const rates = this.#rates;
    if (!rates?.shared) return this.#budget(tenant).takeOrWait(n);
    const { ingestRate, maxPoints } = this.#config;
    return rates.takeOrWait(`ingest|${tenant}`, ingestRate, Math.max(ingestRate, maxPoints), n);
  }

  /** Forget the budgets that are full again (nothing to remember about those tenants). */
  sweep(): void {
    for (const [tenant, bucket] of this.#budgets) if (bucket.full()) this.#budgets.delete(tenant);
  }

  #budget(tenant: string): TokenBucket {
    let bucket = this.#budgets.get(tenant);
    if (!bucket) {
      const { ingestRate, maxPoints } = this.#config;
      bucket = new TokenBucket(ingestRate, Math.max(ingestRate, maxPoints), this.#now);
      this.#budgets.set(tenant, bucket);
    }
    return bucket;
  }
}
