import { randomBytes } from 'node:crypto';
import type { MetricStat, MetricSubscribeResult } from '@switchboard/protocol';
import type { SessionContext } from '../../core/context.js';
import { RawJson } from '../../core/encode.js';
import type { Clock, Stat } from './buckets.js';
import { StepLog } from './change-log.js';
import { encodeFrame, windowStart } from './frame-encoder.js';
import { FrameText, type UpdateSeries } from './frame-text.js';
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
  /** `JSON.stringify(id)`. */
  readonly idJson: string;
  readonly client: SessionContext;
  readonly spec: SubscriptionSpec;
  /** The store key of each series index. */
  readonly keys: readonly string[];
  /** The change log of each series index (its store at the subscription's step). */
  readonly logs: readonly StepLog[];
  /** Names the columns in the frame builder's cache. */
  readonly columnsKey: string;
  readonly pacer: Pacer;
  seq: number;
  /** The change version of the previous frame (or of the backfill): later changes are pending. */
  since: number;
  /** The change version at which nothing was pending (-1: not looked at since). */
  checked: number;
  /** False until the backfill was queued: live frames never overtake it. */
  active: boolean;
}

/** How often pending frames are looked at again (wall clock; what is due is decided on the server's clock). */
const POLL_MS = 25;
/**
 * Rounds of frames run at most this fraction of the shortest push interval of the node's
 * subscriptions apart: each round encodes the parts of the series it sends anew (the stores
 * change between rounds), so rounds as frequent as the writes cost more encodings than the
 * frames they spread out save when every interval is long (1 s). A frame waits a tenth of its
 * interval at most for it.
 */
const ROUND_FRACTION = 0.1;
/**
 * A round makes frames for at most this long (ms of the monotonic clock) before it lets the
 * loop read sockets, then goes on: at 10,000 subscribers a round of a thousand frames took
 * ~80 ms, and ingest requests waited behind it (their points then reached their frames late).
 */
const ROUND_BUDGET_MS = 4;

/**
 * The metric subscriptions of this node's connections. Each one is registered in the same
 * turn as its backfill is read, so every later write counts as a change for it: backfill and
 * live frames join without a gap, and a bucket sent twice is sent whole (the view replaces
 * it). A write marks the change logs of the stores it changed (change-log.ts), once however
 * many subscriptions follow them, with a new change version; a subscription's frame carries
 * the buckets changed after the version of its previous frame. Frames are pulled: a
 * subscription's pacer lets one be built only when it is due and the connection's backlog is
 * under `limits.queueSignalDropBytes`, so a metric subscription never fills a queue, never
 * makes a connection a slow consumer, and leaves the room to reliable frames. The frames of
 * one round share the encoding of each series' buckets (frame-text.ts).
 */
export class MetricSubscriptions {
  /** Store key → step → the change log subscriptions at that step follow. */
  readonly #logs = new Map<string, Map<number, StepLog>>();
  readonly #byClient = new Map<string, Map<string, Subscription>>();
  readonly #subs = new Set<Subscription>();
  readonly #text: FrameText;
  readonly #stopListening: () => void;
  readonly #timer: NodeJS.Timeout;
  #scheduled = false;
  /** Bumped by every write that changed a followed store. */
  #version = 0;
  #logIds = 0;
  /** Counts the rounds of frames (`poll`s that looked at the subscriptions). */
  #round = 0;
  /** The version the last round of frames looked at, and whether it left a frame pending (too soon, or congested). */
  #polled = 0;
  #waiting = false;
  /** Subscriptions per rate: the highest sets how far apart rounds run (`ROUND_FRACTION`). */
  readonly #rates = new Map<number, number>();
  #roundGap = 0;
  #lastRound = Number.NEGATIVE_INFINITY;
  /** A round ran out of its budget: the next `poll` goes on with it (no gap, the same round). */
  #resume = false;
  readonly #monotonic: () => number;
  readonly #roundBudgetMs: number;

  constructor(
    readonly stores: MetricStores,
    readonly clock: Clock,
    /** Backlog bytes above which a connection is congested. */
    readonly congestedAt: number,
    /**
     * The rounds' own timing, on a monotonic clock of ms (`performance.now` by default; the
     * server's clock, which dates frames, may be set back or held by a test): how far apart
     * they run (`ROUND_FRACTION`) and how long one makes frames (`ROUND_BUDGET_MS`).
     */
    timing: { monotonic?: () => number; roundBudgetMs?: number } = {},
  ) {
    this.#monotonic = timing.monotonic ?? (() => performance.now());
    this.#roundBudgetMs = timing.roundBudgetMs ?? ROUND_BUDGET_MS;
    this.#text = new FrameText(stores);
    this.#stopListening = stores.onChange(
      (key, changed) => this.#changed(key, changed),
      (key) => this.#logs.has(key),
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
    const logs = keys.map((key) => this.#follow(key, spec.step, spec.window));
    const sub: Subscription = {
      id,
      idJson: JSON.stringify(id),
      client,
      spec,
      keys,
      logs,
      columnsKey: spec.columns.join(','),
      pacer: new Pacer(spec.rate, now),
      seq: 1,
      since: this.#version,
      checked: -1,
      active: false,
    };
    this.#subs.add(sub);
    this.#rated(spec.rate, 1);
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
      // A change since the backfill was read waits for the next round.
      if (this.#pending(sub)) this.#waiting = true;
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
    const version = this.#version;
    const resume = this.#resume;
    if (version === this.#polled && !this.#waiting && !resume) return;
    const started = this.#monotonic();
    if (!resume) {
      // Too soon after the previous round: the timer comes back.
      if (started - this.#lastRound < this.#roundGap) return;
      this.#lastRound = started;
      this.#round++;
    }
    this.#resume = false;
    this.#polled = version;
    this.#waiting = false;
    let now = this.clock.now();
    for (const sub of this.#subs) {
      if (!sub.active || sub.checked === version) continue;
      if (!sub.pacer.ready(now)) {
        this.#waiting = true;
        continue;
      }
      if (!this.#pending(sub)) {
        sub.checked = version;
        continue;
      }
      if (sub.client.closed) {
        this.#remove(sub);
        continue;
      }
      const due = sub.pacer.take(now, sub.client.backlog > this.congestedAt, true);
      if (!due) {
        this.#waiting = true;
        continue;
      }
      sub.client.pushFeature(FEATURE, 'frame', new RawJson(this.#frame(sub, now, due.skipped)));
      sub.checked = version;
      // The clock is read again after each frame made: the next is dated (and paced from) when
      // it is made, so the subscriptions served late in a long round keep their later place
      // instead of all falling due together in the next round.
      now = this.clock.now();
      if (this.#monotonic() - started >= this.#roundBudgetMs) {
        // Out of budget: the round goes on after the loop has read its sockets (those served
        // are not due again; the others are looked at anew).
        this.#resume = true;
        setImmediate(() => this.poll());
        return;
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#stopListening();
  }

  /** Counts a subscription of `rate` in (`delta` 1) or out (−1), and sets the gap between rounds from the highest rate left. */
  #rated(rate: number, delta: number): void {
    const n = (this.#rates.get(rate) ?? 0) + delta;
    if (n > 0) this.#rates.set(rate, n);
    else this.#rates.delete(rate);
    let highest = 0;
    for (const r of this.#rates.keys()) if (r > highest) highest = r;
    this.#roundGap = highest > 0 ? (1000 / highest) * ROUND_FRACTION : 0;
  }

  /** Whether a bucket a subscription follows changed since its previous frame. */
  #pending(sub: Subscription): boolean {
    for (const log of sub.logs) if (log.last > sub.since) return true;
    return false;
  }

  /** The JSON text of a subscription's next update frame: every bucket changed since its previous frame, in the window. */
  #frame(sub: Subscription, now: number, skipped: number): string {
    const { spec, since } = sub;
    const from = windowStart(now, spec.step, spec.window);
    const series: UpdateSeries[] = [];
    for (let i = 0; i < sub.logs.length; i++) {
      const log = sub.logs[i] as StepLog;
      if (log.last <= since) continue;
      const changed: number[] = [];
      log.since(since, changed);
      const starts = changed.filter((s) => s >= from).sort((a, b) => a - b);
      series.push({ i, key: sub.keys[i] as string, log, starts });
    }
    sub.since = this.#version;
    this.#text.at(this.#round, this.#version);
    const head = { idJson: sub.idJson, seq: sub.seq++, at: now, from, skipped, step: spec.step };
    return this.#text.update(head, spec.columns, sub.columnsKey, series);
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

  /** The change log of a store at a step, for one more series of a subscription with a window of `window` ms. */
  #follow(key: string, step: number, window: number): StepLog {
    let steps = this.#logs.get(key);
    if (!steps) {
      steps = new Map();
      this.#logs.set(key, steps);
    }
    let log = steps.get(step);
    if (!log) {
      log = new StepLog(++this.#logIds, step);
      steps.set(step, log);
    }
    log.follow(window);
    return log;
  }

  #changed(key: string, changed: ReadonlyMap<number, readonly number[]>): void {
    const steps = this.#logs.get(key);
    if (!steps) return;
    let now = 0;
    let marked = false;
    for (const [step, log] of steps) {
      const starts = changed.get(step);
      if (!starts || starts.length === 0) continue;
      if (!marked) {
        marked = true;
        this.#version++;
        now = this.clock.now();
      }
      log.mark(this.#version, starts, now);
    }
    if (marked && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.poll());
    }
  }

  #remove(sub: Subscription): void {
    if (!this.#subs.delete(sub)) return;
    this.#rated(sub.spec.rate, -1);
    const mine = this.#byClient.get(sub.client.id);
    mine?.delete(sub.id);
    if (mine?.size === 0) this.#byClient.delete(sub.client.id);
    sub.keys.forEach((key, i) => {
      const log = sub.logs[i] as StepLog;
      if (--log.followers > 0) return;
      const steps = this.#logs.get(key);
      steps?.delete(log.step);
      if (steps?.size === 0) this.#logs.delete(key);
    });
  }
}
