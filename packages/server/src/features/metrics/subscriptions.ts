import { randomBytes } from 'node:crypto';
import type { MetricFrame, MetricStat, MetricSubscribeResult } from '@switchboard/protocol';
import type { SessionContext } from '../../core/context.js';
import type { Clock, Stat } from './buckets.js';
import { encodeFrame, windowStart } from './frame-encoder.js';
import { type MetricStores, storeKey } from './metric-stores.js';
import { Pacer } from './pacer.js';

/** The feature's name on the wire (`{"push":"feature","feature":"metrics","event":"frame"}`). */
export const FEATURE = 'metrics';

/** What `open` needs: the checked request, and the reply it will answer (less the id). */
export interface SubscriptionSpec {
  tenant: string;
  labels: Readonly<Record<string, string>>;
  series: readonly string[];
  step: number;
  /** ms, a whole number of steps within the retention. */
  window: number;
  columns: readonly Stat[];
  rate: number;
  reply: Omit<MetricSubscribeResult, 'id'>;
}

interface Subscription {
  readonly id: string;
  readonly client: SessionContext;
  readonly spec: SubscriptionSpec;
  /** The store key of each series index. */
  readonly keys: readonly string[];
  readonly pacer: Pacer;
  seq: number;
  /** False until the backfill was queued: live frames never overtake it. */
  active: boolean;
}

/** How often pending frames are looked at again (wall clock; what is due is decided on the server's clock). */
const POLL_MS = 25;

/**
 * The metric subscriptions of this node's connections. Each one is registered in the same
 * turn as its backfill is read, so every later write marks its buckets pending: backfill and
 * live frames join without a gap, and a bucket sent twice is sent whole (the view replaces
 * it). Frames are pulled: a subscription's pacer builds one only when it is due and the
 * connection's backlog is under `limits.queueSignalDropBytes`, so a metric subscription never
 * fills a queue, never makes a connection a slow consumer, and leaves the room to reliable
 * frames.
 */
export class MetricSubscriptions {
  readonly #byKey = new Map<string, Set<Subscription>>();
  readonly #byClient = new Map<string, Map<string, Subscription>>();
  readonly #dirty = new Set<Subscription>();
  readonly #stopListening: () => void;
  readonly #timer: NodeJS.Timeout;
  #scheduled = false;

  constructor(
    readonly stores: MetricStores,
    readonly clock: Clock,
    /** Backlog bytes above which a connection is congested. */
    readonly congestedAt: number,
  ) {
    this.#stopListening = stores.onChange(
      (key, changed) => this.#changed(key, changed),
      (key) => this.#byKey.has(key),
    );
    this.#timer = setInterval(() => this.poll(), POLL_MS);
    this.#timer.unref();
  }

  /** Whether any connection of this node follows a series of `tenant` whose name starts with `prefix`. */
  follows(tenant: string, prefix: string): boolean {
    for (const mine of this.#byClient.values())
      for (const sub of mine.values()) if (sub.spec.tenant === tenant && sub.spec.series.some((s) => s.startsWith(prefix))) return true;
    return false;
  }

  /** Subscriptions a connection holds. */
  countOf(clientId: string): number {
    return this.#byClient.get(clientId)?.size ?? 0;
  }

  /**
   * Registers a subscription and reads its backfill, in one turn. The caller answers the reply,
   * then `start`s it (which queues the backfill).
   */
  open(client: SessionContext, spec: SubscriptionSpec): { reply: MetricSubscribeResult; start: () => void } {
    const id = randomBytes(6).toString('base64url');
    const now = this.clock.now();
    const keys = spec.series.map((s) => storeKey(spec.tenant, s, spec.labels));
    const sub: Subscription = { id, client, spec, keys, pacer: new Pacer(spec.rate, now), seq: 1, active: false };
    for (const key of keys) {
      const set = this.#byKey.get(key) ?? new Set();
      set.add(sub);
      this.#byKey.set(key, set);
    }
    const mine = this.#byClient.get(client.id) ?? new Map<string, Subscription>();
    mine.set(id, sub);
    this.#byClient.set(client.id, mine);
    const from = windowStart(now, spec.step, spec.window);
    const backfill = encodeFrame({
      id,
      kind: 'backfill',
      seq: 0,
      at: now,
      from,
      skipped: 0,
      step: spec.step,
      columns: spec.columns.length,
      series: spec.series.map((series, i) => ({ i, rows: this.#backfillRows(spec, series, from, now) })),
    });
    const start = (): void => {
      if (!this.#byClient.get(client.id)?.has(id)) return;
      client.pushFeature(FEATURE, 'frame', backfill);
      sub.active = true;
      if (sub.pacer.pending) this.#dirty.add(sub);
    };
    return { reply: { id, ...spec.reply }, start };
  }

  /** Ends one subscription of a connection; false when it holds none of that id. */
  close(clientId: string, id: string): boolean {
    const sub = this.#byClient.get(clientId)?.get(id);
    if (!sub) return false;
    this.#remove(sub);
    return true;
  }

  /** Ends every subscription of a connection (it closed). */
  closeClient(clientId: string): void {
    for (const sub of [...(this.#byClient.get(clientId)?.values() ?? [])]) this.#remove(sub);
  }

  /** Sends the frames that are due: called after writes and on a timer. */
  poll(): void {
    this.#scheduled = false;
    if (this.#dirty.size === 0) return;
    const now = this.clock.now();
    for (const sub of [...this.#dirty]) {
      if (sub.client.closed) {
        this.#remove(sub);
        continue;
      }
      const due = sub.pacer.take(now, sub.client.backlog > this.congestedAt);
      if (due) sub.client.pushFeature(FEATURE, 'frame', this.#frame(sub, now, due.changes, due.skipped));
      if (!sub.pacer.pending) this.#dirty.delete(sub);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#stopListening();
  }

  #frame(sub: Subscription, now: number, changes: Map<number, number[]>, skipped: number): MetricFrame {
    const { spec } = sub;
    const from = windowStart(now, spec.step, spec.window);
    const series = [...changes].map(([i, starts]) => ({
      i,
      rows: this.stores.rows(
        sub.keys[i] as string,
        spec.step,
        starts.filter((s) => s >= from),
        spec.columns,
      ),
    }));
    return encodeFrame({ id: sub.id, kind: 'update', seq: sub.seq++, at: now, from, skipped, step: spec.step, columns: spec.columns.length, series });
  }

  #backfillRows(spec: SubscriptionSpec, series: string, from: number, now: number): Array<{ start: number; values: Array<number | null> }> {
    const resolution = spec.reply.resolution;
    const read = this.stores.read(spec.tenant, series, spec.labels, resolution, from, now + 1, spec.columns as MetricStat[]);
    if (!read?.ok) return [];
    const rows: Array<{ start: number; values: Array<number | null> }> = [];
    for (let j = 0; j < read.count.length; j++) {
      const count = read.count[j] as number;
      if (count === 0) continue;
      rows.push({ start: read.start + j * read.step, values: spec.columns.map((c) => (c === 'count' ? count : (read.stats[c]?.[j] ?? null))) });
    }
    return rows;
  }

  #changed(key: string, changed: ReadonlyMap<number, readonly number[]>): void {
    const subs = this.#byKey.get(key);
    if (!subs) return;
    for (const sub of subs) {
      const starts = changed.get(sub.spec.step);
      if (!starts || starts.length === 0) continue;
      sub.keys.forEach((k, i) => {
        if (k === key) sub.pacer.mark(i, starts);
      });
      if (sub.active) this.#dirty.add(sub);
    }
    if (this.#dirty.size > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.poll());
    }
  }

  #remove(sub: Subscription): void {
    this.#dirty.delete(sub);
    const mine = this.#byClient.get(sub.client.id);
    mine?.delete(sub.id);
    if (mine?.size === 0) this.#byClient.delete(sub.client.id);
    for (const key of sub.keys) {
      const set = this.#byKey.get(key);
      set?.delete(sub);
      if (set?.size === 0) this.#byKey.delete(key);
    }
  }
}
