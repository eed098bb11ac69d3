import { ErrorCode, type ErrorCodeInfo } from '@switchboard/protocol';
import { newestIn, newPlan, type Plan, planNewest, Touched } from './batch-plan.js';
import type { Bucket } from './bucket.js';
import { BucketStore, type Clock, type Columns, type Refusal, type RefusalCode, type Stat, statOf } from './buckets.js';
import { type MetricsConfig, type ResolutionName, resolutionsOf, type SeriesDeclaration } from './config.js';
import type { ColumnBlock, Held, PointInput, Verdict } from './ingest-types.js';
import { canonicalLabels, labelSetKey, NO_LABELS } from './label-key.js';
import { encodeParts, type PartsOut, RemoteParts } from './remote-parts.js';
import { StoreIndex } from './store-index.js';
import { MAX_SYSTEM_STORES, SYSTEM_SCOPE, SYSTEM_SERIES } from './system-series.js';

export type { ColumnBlock, Held, PointInput, Problem, Verdict } from './ingest-types.js';
export { labelSetKey, NO_LABELS };

const MAX_PROBLEMS = 100;

const REFUSAL_CODES: Readonly<Record<RefusalCode, ErrorCodeInfo>> = {
  value: ErrorCode.InvalidMetricValue,
  timestamp: ErrorCode.InvalidTimestamp,
  'too-early': ErrorCode.TimestampTooEarly,
  'too-late': ErrorCode.TimestampTooLate,
  resolution: ErrorCode.UnknownResolution,
  stat: ErrorCode.BadRequest,
  decode: ErrorCode.BadRequest,
};

/** A query naming a label key the series does not declare. */
export interface ReadRefusal {
  readonly ok: false;
  readonly code: 'label';
  readonly message: string;
}

/** The reply error code of a bucket store's refusal. */
export const codeOfRefusal = (r: Refusal | ReadRefusal): ErrorCodeInfo => (r.code === 'label' ? ErrorCode.UnknownLabel : REFUSAL_CODES[r.code]);

interface Declared {
  decl: SeriesDeclaration;
  steps: ReadonlyMap<ResolutionName, number>;
  /** An empty store of the series: checks points of label sets not held yet, reads them as empty. */
  probe: BucketStore;
}

/** Buckets of one store changed by a write (`local`) or by another node's parts: per step, the starts. */
export type ChangeListener = (key: string, changed: ReadonlyMap<number, readonly number[]>, local: boolean) => void;

export interface MetricStoresOptions {
  /** A series a tenant declared beyond the configuration (series-registry.ts), else undefined. */
  lookup?: (tenant: string, series: string) => SeriesDeclaration | undefined;
  /** Told of every point about to be written into the store of a series declared with `persist` (its timestamp). */
  persisted?: (key: string, held: Held, ts: number) => void;
}

/** One figure of the server's own (self-meter.ts): a value, or the latencies gathered since the last sample. */
export interface SystemPoint {
  series: string;
  labels: Readonly<Record<string, string>>;
  value: number | Bucket;
}

/** The key of one (tenant, series, label set): what subscriptions follow. */
export const storeKey = (tenant: string, series: string, labels: Readonly<Record<string, string>>): string => `${tenant}\0${series}\0${labelSetKey(labels)}`;
/** `storeKey` of a labels object seen once (a row's): not remembered. */
const rowKey = (tenant: string, series: string, labels: Readonly<Record<string, string>>): string =>
  `${tenant}\0${series}\0${labels === NO_LABELS ? '[]' : canonicalLabels(labels)}`;
const valuesKey = (tenant: string, series: string, label: string): string => `${tenant}\0${series}\0${label}`;

/**
 * The bucket stores of every tenant on this node, one per (tenant, series, label set): the map
 * key holds the tenant, so a tenant's stores, caps and label values are its own. A batch is
 * checked whole (`check`) before any of it is written (`write`); `sweep` drops old buckets and
 * frees the stores that hold none (an idle series is gone after its longest retention).
 */
export class MetricStores {
  readonly #config: MetricsConfig;
  readonly #clock: Clock;
  readonly #options: MetricStoresOptions;
  readonly #declared = new Map<string, Declared>();
  /** The system scope's series (system-series.ts): only the tenant key SYSTEM_SCOPE finds them. */
  readonly #system = new Map<string, Declared>();
  /** The `Declared` of each declaration a lookup returned (a changed declaration is a new object). */
  readonly #looked = new WeakMap<SeriesDeclaration, Declared>();
  readonly #stores = new Map<string, Held>();
  /** The same stores, found by tenant, series and labels without building their key (rows of a batch). */
  readonly #index = new StoreIndex<Held>();
  readonly #perTenant = new Map<string, number>();
  /** (tenant, series, label key) → value → stores holding it. */
  readonly #labelValues = new Map<string, Map<string, number>>();
  /** Marks of plans and writes (`Held.planned`, `Held.written`): each takes the next. */
  #marks = 0;
  readonly #listeners = new Set<{ listener: ChangeListener; wants: ((key: string) => boolean) | undefined }>();
  /** The partial buckets other nodes announced (remote-parts.ts): reads merge them, persistence never sees them. */
  readonly remote: RemoteParts;

  /** This node's alert evaluator (set by the feature at start): `tick()` evaluates every rule now. */
  alerts: { tick(): Promise<void> } | null = null;
  /** This node's meter of its own figures (self-meter.ts; set by the feature at start): `sample()` writes one sample now. */
  meter: { sample(): number } | null = null;
  /** This node's announcer of partial buckets (cluster-push.ts; set by the feature at start): `push()` announces what changed now. */
  cluster: { push(): Promise<number> } | null = null;

  constructor(config: MetricsConfig, clock: Clock, options: MetricStoresOptions = {}) {
    this.#config = config;
    this.#clock = clock;
    this.#options = options;
    this.remote = new RemoteParts({ clock, keyOf: storeKey, maxStores: () => this.#config.maxSeries, maxSkew: config.maxSkew });
    for (const [name, decl] of Object.entries(config.series)) this.#declared.set(name, this.#declare(decl));
    for (const [name, decl] of Object.entries(SYSTEM_SERIES)) this.#system.set(name, this.#declare(decl));
  }

  #declare(decl: SeriesDeclaration): Declared {
    const resolutions = resolutionsOf(decl);
    return { decl, steps: new Map(resolutions.map((r) => [r.name, r.step])), probe: this.#newStore(decl) };
  }

  /** A series as a tenant sees it: declared in the configuration, else declared by the tenant. */
  #find(tenant: string | undefined, series: string): Declared | undefined {
    if (tenant === SYSTEM_SCOPE) return this.#system.get(series);
    const configured = this.#declared.get(series);
    if (configured || tenant === undefined) return configured;
    const decl = this.#options.lookup?.(tenant, series);
    if (!decl) return undefined;
    let declared = this.#looked.get(decl);
    if (!declared) {
      declared = this.#declare(decl);
      this.#looked.set(decl, declared);
    }
    return declared;
  }

  /** Stores held, over every tenant. */
  get size(): number {
    return this.#stores.size;
  }

  /** The declaration of a series: the configuration's, else (with `tenant`) the tenant's own. */
  declaration(series: string, tenant?: string): SeriesDeclaration | undefined {
    return this.#find(tenant, series)?.decl;
  }

  /** Every problem of a batch for a tenant, in point order; nothing is written. */
  check(tenant: string, points: readonly PointInput[]): Verdict {
    const keys: string[] = new Array(points.length);
    const stores: Array<Held | undefined> = new Array(points.length);
    const verdict: Verdict = { total: 0, problems: [], first: null, keys, stores };
    const plan = this.#plan(tenant);
    // A run of points of one series sharing one labels object (a columnar block) is one store:
    // its series and labels are checked once, then only each point's timestamp and value.
    let run: { series: string; labels: object; key: string; held: Held | undefined; store: BucketStore } | null = null;
    for (let index = 0; index < points.length; index++) {
      const p = points[index] as PointInput;
      let found: [ErrorCodeInfo, string] | null;
      if (run !== null && p.series === run.series && p.labels === run.labels) {
        const ts = (p.ts === undefined ? plan.now : p.ts) as number;
        const before = newestIn(plan, run.key, run.held);
        const refused = run.store.refusal(ts, p.value, before, plan.now);
        found = refused ? [codeOfRefusal(refused), refused.message] : null;
        if (!found && ts > before) planNewest(plan, run.key, run.held, ts);
        keys[index] = run.key;
        stores[index] = run.held;
      } else {
        found = this.#problemOf(tenant, p, plan);
        run = null;
        if (!found) {
          const key = plan.key;
          keys[index] = key;
          stores[index] = plan.found;
          // A labels object met again (a block's) is worth a run; a row's own object is not.
          if (p.labels === NO_LABELS || (index + 1 < points.length && points[index + 1]?.labels === p.labels)) {
            const held = plan.found;
            const store = held?.store ?? (this.#find(tenant, p.series) as Declared).probe;
            run = { series: p.series, labels: p.labels, key, held, store };
          }
        }
      }
      if (!found) continue;
      verdict.total++;
      verdict.first ??= found[0];
      if (verdict.problems.length < MAX_PROBLEMS) verdict.problems.push({ index, code: found[0].code, reason: found[1] });
    }
    return verdict;
  }

  /**
   * The store key of each block (`''` for an empty one), for `writeBlocks`, when `check` of
   * their points (`blockPoints`, in order) would find no problem, else null (`check` then
   * tells which): each block's first point is checked as any point (series, labels, caps),
   * the rest in one loop over its arrays, a later block of the same store against the
   * earlier ones' newest point.
   */
  checkBlocks(tenant: string, blocks: readonly ColumnBlock[]): string[] | null {
    const plan = this.#plan(tenant);
    const keys: string[] = new Array(blocks.length);
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i] as ColumnBlock;
      keys[i] = '';
      if (b.values.length === 0) continue;
      if (this.#problemOf(tenant, { series: b.series, labels: b.labels, ts: b.ts?.[0], value: b.values[0] }, plan)) return null;
      const key = plan.key;
      const held = plan.found;
      const store = held?.store ?? (this.#find(tenant, b.series) as Declared).probe;
      const newest = newestIn(plan, key, held);
      if (store.firstRefused(b.ts, b.values, 1, newest, plan.now) >= 0) return null;
      let last = newest;
      if (b.ts === undefined) last = Math.max(last, plan.now);
      else for (const t of b.ts) if ((t as number) > last) last = t as number;
      planNewest(plan, key, held, last);
      keys[i] = key;
    }
    return keys;
  }

  /** `write` of blocks `checkBlocks` found no problem in (`keys`: what it returned), each block's points as a run; returns the points written. */
  writeBlocks(tenant: string, blocks: readonly ColumnBlock[], keys: readonly string[]): number {
    const now = this.#clock.now();
    const touched = this.#touched();
    let n = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i] as ColumnBlock;
      if (b.values.length === 0) continue;
      const key = keys[i] as string;
      const held = this.#stores.get(key) ?? this.#hold(key, tenant, b.series, b.labels);
      if (held.decl.persist && this.#options.persisted) {
        for (let j = 0; j < b.values.length; j++) {
          const ts = b.ts === undefined ? now : (b.ts[j] as number);
          this.#options.persisted(key, held, ts);
          held.store.add(ts, b.values[j] as number, now);
        }
      } else held.store.addColumns(b.ts, b.values, now, now);
      touched.add(held);
      n += b.values.length;
    }
    this.#tell(touched.list);
    return n;
  }

  /** A batch's plan before its first point. */
  #plan(tenant: string): Plan {
    return newPlan(this.#clock.now(), ++this.#marks, this.#perTenant.get(tenant) ?? 0);
  }

  /** What is wrong with one point, given the points of the batch before it (`plan`, updated when it is fine). */
  #problemOf(tenant: string, p: PointInput, plan: Plan): [ErrorCodeInfo, string] | null {
    const declared = this.#find(tenant, p.series);
    if (!declared) return [ErrorCode.UnknownSeries, `no series ${p.series}`];
    const max = this.#config;
    for (const k in p.labels) {
      if (!Object.hasOwn(p.labels, k)) continue;
      if (!declared.decl.labels.includes(k)) return [ErrorCode.UnknownLabel, `label ${k} is not declared for ${p.series}`];
      if ((p.labels[k] as string).length > max.maxLabelValueLength)
        return [ErrorCode.LabelValueTooLong, `label ${k} is longer than ${max.maxLabelValueLength} characters`];
    }
    const held = this.#index.get(tenant, p.series, p.labels);
    const key = held === undefined ? rowKey(tenant, p.series, p.labels) : held.key;
    const ts = (p.ts === undefined ? plan.now : p.ts) as number;
    const before = newestIn(plan, key, held);
    const refused = (held?.store ?? declared.probe).refusal(ts, p.value, before, plan.now);
    if (refused) return [codeOfRefusal(refused), refused.message];
    if (!held && !plan.newStores.has(key)) {
      if (plan.held >= max.maxSeries) return [ErrorCode.SeriesLimit, `the tenant holds ${max.maxSeries} series`];
      const added: Array<[string, string]> = [];
      for (const [k, v] of Object.entries(p.labels)) {
        const vk = valuesKey(tenant, p.series, k);
        const values = this.#labelValues.get(vk);
        const planned = plan.newValues.get(vk);
        if (values?.has(v) || planned?.has(v)) continue;
        if ((values?.size ?? 0) + (planned?.size ?? 0) >= max.maxLabelValues)
          return [ErrorCode.LabelValueLimit, `label ${k} of ${p.series} has ${max.maxLabelValues} values`];
        added.push([vk, v]);
      }
      for (const [vk, v] of added) {
        const planned = plan.newValues.get(vk) ?? new Set<string>();
        planned.add(v);
        plan.newValues.set(vk, planned);
      }
      plan.newStores.add(key);
      plan.held++;
    }
    planNewest(plan, key, held, Math.max(before, ts));
    plan.key = key;
    plan.found = held;
    return null;
  }

  /**
   * Writes a batch that `check` found no problem in (`found`: its verdict, whose store keys and
   * stores held are then not looked up again); returns the points written.
   */
  write(tenant: string, points: readonly PointInput[], found?: Pick<Verdict, 'keys' | 'stores'>): number {
    const now = this.#clock.now();
    const touched = this.#touched();
    let series: string | undefined;
    let labels: object | undefined;
    let key = '';
    let held: Held | undefined;
    for (let i = 0; i < points.length; i++) {
      const p = points[i] as PointInput;
      // Consecutive points of one series and one labels object (a columnar block) share a store.
      if (held === undefined || p.series !== series || p.labels !== labels) {
        series = p.series;
        labels = p.labels;
        const next = found?.stores?.[i] ?? found?.keys[i] ?? storeKey(tenant, p.series, p.labels);
        if (typeof next !== 'string') {
          held = next;
          key = held.key;
        } else if (held === undefined || next !== key) {
          key = next;
          held = this.#stores.get(key) ?? this.#hold(key, tenant, p.series, p.labels);
        }
        touched.add(held);
      }
      const ts = p.ts === undefined ? now : (p.ts as number);
      // Before the point goes in, which may reuse a ring slot of a bucket past the retention.
      if (held.decl.persist) this.#options.persisted?.(key, held, ts);
      held.store.add(ts, p.value as number, now);
    }
    this.#tell(touched.list);
    return points.length;
  }

  /**
   * Writes the server's own figures (self-meter.ts) into the system scope at `ts`, unchecked
   * (the server names them): a number is one point, a bucket the latencies gathered since the
   * last sample, merged at `ts`. A new label set beyond MAX_SYSTEM_STORES is skipped. Returns
   * the points skipped.
   */
  writeSystem(ts: number, points: readonly SystemPoint[]): number {
    const touched = this.#touched();
    let skipped = 0;
    for (const p of points) {
      const key = storeKey(SYSTEM_SCOPE, p.series, p.labels);
      let held = this.#stores.get(key);
      if (!held) {
        if (!this.#system.has(p.series) || (this.#perTenant.get(SYSTEM_SCOPE) ?? 0) >= MAX_SYSTEM_STORES) {
          skipped++;
          continue;
        }
        held = this.#hold(key, SYSTEM_SCOPE, p.series, p.labels);
      }
      const written = typeof p.value === 'number' ? held.store.ingest(ts, p.value).ok : held.store.absorb(ts, p.value);
      if (written) touched.add(held);
      else skipped++;
    }
    this.#tell(touched.list);
    return skipped;
  }

  /** The label sets of a series held in a tenant (or the system scope): this node's and other nodes' parts, each once. */
  labelSets(tenant: string, series: string): Array<Readonly<Record<string, string>>> {
    const seen = new Map<string, Readonly<Record<string, string>>>();
    for (const held of this.#stores.values()) if (held.tenant === tenant && held.series === series) seen.set(labelSetKey(held.labels), held.labels);
    for (const labels of this.remote.labelSetsOf(tenant, series)) seen.set(labelSetKey(labels), labels);
    return [...seen.values()];
  }

  /**
   * Follow the buckets every write changes (a store's changes are drained once per write); with
   * `wants`, only of the stores it wants (the others' changes are not even listed). Returns the removal.
   */
  onChange(listener: ChangeListener, wants?: (key: string) => boolean): () => void {
    const entry = { listener, wants };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  /** The stores a write touches, each listed once. */
  #touched(): Touched {
    return new Touched(++this.#marks);
  }

  /** Tells the listeners what a write changed in the stores it touched. */
  #tell(touched: readonly Held[]): void {
    for (const { key, store } of touched) {
      let changed: Map<number, number[]> | undefined;
      for (const { listener, wants } of this.#listeners) {
        if (wants !== undefined && !wants(key)) continue;
        changed ??= store.drainChanged();
        listener(key, changed, true);
      }
      if (changed === undefined) store.forgetChanged();
    }
  }

  /**
   * The given buckets of one store at one step, each as its values in `columns` order (count,
   * or a statistic); buckets that are empty or gone are left out.
   */
  rows(key: string, step: number, starts: readonly number[], columns: readonly Stat[]): Array<{ start: number; values: number[] }> {
    const store = this.#stores.get(key)?.store;
    const remote = this.remote.has(key);
    if (!store && !remote) return [];
    const out: Array<{ start: number; values: number[] }> = [];
    for (const start of starts) {
      const own = store?.bucket(step, start);
      const b = remote ? this.remote.merged(key, step, start, own) : own;
      if (!b || b.count === 0) continue;
      out.push({ start, values: columns.map((c) => (c === 'count' ? b.count : statOf(b, c, step))) });
    }
    return out;
  }

  /**
   * The buckets of one label set of a series, in columns; a label set the tenant does not hold
   * reads as empty buckets. Undefined for a series that is not declared.
   */
  read(
    tenant: string,
    series: string,
    labels: Readonly<Record<string, string>>,
    resolution: string,
    from: number,
    to: number,
    stats?: readonly Stat[],
  ): Columns | Refusal | ReadRefusal | undefined {
    const declared = this.#find(tenant, series);
    if (!declared) return undefined;
    const undeclared = Object.keys(labels).find((k) => !declared.decl.labels.includes(k));
    if (undeclared !== undefined) return { ok: false, code: 'label', message: `label ${undeclared} is not declared for ${series}` };
    const step = declared.steps.get(resolution as ResolutionName);
    if (step === undefined) return { ok: false, code: 'resolution', message: `no resolution ${resolution}; one of ${[...declared.steps.keys()].join(', ')}` };
    const key = storeKey(tenant, series, labels);
    const store = this.#stores.get(key)?.store ?? declared.probe;
    const read = store.read(step, from, to, stats);
    if (!read.ok || !this.remote.has(key)) return read;
    // Each bucket is this node's merged with the other nodes' parts, in the same columns.
    const count = read.count.slice();
    const columns: Columns['stats'] = {};
    for (const [s, values] of Object.entries(read.stats)) columns[s as Exclude<Stat, 'count'>] = values.slice();
    for (let i = 0; i < count.length; i++) {
      const start = read.start + i * step;
      const b = this.remote.merged(key, step, start, store.bucket(step, start));
      count[i] = b?.count ?? 0;
      for (const [s, values] of Object.entries(columns)) values[i] = b === undefined ? null : statOf(b, s as Exclude<Stat, 'count'>, step);
    }
    return { ...read, count, stats: columns };
  }

  /**
   * Takes another node's announced parts (remote-parts.ts) and tells the listeners which
   * buckets they changed (`local` false). Throws `MetricDecodeError` for malformed bytes.
   */
  acceptRemote(from: string, bytes: Uint8Array, writer?: string): number {
    const changed = this.remote.accept(from, bytes, writer);
    for (const [key, steps] of changed) for (const { listener } of this.#listeners) listener(key, steps, false);
    return changed.size;
  }

  /**
   * This node's own buckets of the given stores (store key → step → starts), whole, in
   * announcements of at most `perMessage` stores each; buckets gone are left out.
   */
  exportParts(pending: ReadonlyMap<string, ReadonlyMap<number, ReadonlySet<number>>>, perMessage: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let batch: PartsOut[] = [];
    for (const [key, steps] of pending) {
      const held = this.#stores.get(key);
      if (!held) continue;
      const resolutions = held.store.resolutions;
      const part: PartsOut = { tenant: held.tenant, series: held.series, labels: held.labels, steps: [] };
      for (const [step, starts] of steps) {
        const retention = resolutions.find((r) => r.step === step)?.retention;
        if (retention === undefined) continue;
        const buckets = [...starts].flatMap((s) => {
          const b = held.store.bucket(step, s);
          return b && b.count > 0 ? [b] : [];
        });
        if (buckets.length > 0) part.steps.push({ step, retention, buckets });
      }
      if (part.steps.length === 0) continue;
      batch.push(part);
      if (batch.length >= perMessage) {
        out.push(encodeParts(batch));
        batch = [];
      }
    }
    if (batch.length > 0) out.push(encodeParts(batch));
    return out;
  }

  /** The store a tenant holds for one label set of a series, if any. */
  held(tenant: string, series: string, labels: Readonly<Record<string, string>>): Held | undefined {
    return this.#stores.get(storeKey(tenant, series, labels));
  }

  /** The step of a resolution of a series, ms (undefined when either is unknown); with `tenant`, its own series too. */
  step(series: string, resolution: string, tenant?: string): number | undefined {
    return this.#find(tenant, series)?.steps.get(resolution as ResolutionName);
  }

  /** The retention of a resolution of a series, ms (undefined when either is unknown). */
  retention(series: string, resolution: string, tenant?: string): number | undefined {
    const declared = this.#find(tenant, series);
    const r = declared?.probe.resolutions.find((x) => x.step === declared.steps.get(resolution as ResolutionName));
    return r ? r.step * r.retention : undefined;
  }

  /** Stores this node reads: its own and those with parts of other nodes (a store may be both). */
  get readable(): number {
    return this.#stores.size + this.remote.size;
  }

  /** Drops buckets (own and other nodes' parts) past their retention and frees the stores left with none; returns the stores freed. */
  sweep(): number {
    this.remote.sweep();
    let freed = 0;
    for (const [key, held] of this.#stores) {
      held.store.sweep();
      if (held.store.size > 0) continue;
      this.#release(key, held);
      freed++;
    }
    return freed;
  }

  /** The tenants holding points of exactly this label set of a series (the alert rules watch those). */
  holders(series: string, labels: Readonly<Record<string, string>>): string[] {
    const set = labelSetKey(labels);
    const out: string[] = [];
    for (const held of this.#stores.values()) if (held.series === series && labelSetKey(held.labels) === set) out.push(held.tenant);
    for (const tenant of this.remote.tenantsOf(series, (l) => labelSetKey(l) === set)) if (!out.includes(tenant)) out.push(tenant);
    return out;
  }

  #newStore(decl: SeriesDeclaration): BucketStore {
    return new BucketStore({
      kind: decl.kind,
      clock: this.#clock,
      resolutions: resolutionsOf(decl).map(({ step, retention }) => ({ step, retention })),
      lateness: this.#config.lateness,
      maxSkew: this.#config.maxSkew,
    });
  }

  /**
   * A tenant's series was declared anew (`decl`) or deleted (undefined): its stores take the new
   * declaration (label keys, persist; kind and retention stay those they were made with), or
   * are dropped with their buckets. Returns the stores dropped.
   */
  redeclared(tenant: string, series: string, decl: SeriesDeclaration | undefined): number {
    if (!decl) this.remote.dropSeries(tenant, series);
    let dropped = 0;
    for (const [key, held] of this.#stores) {
      if (held.tenant !== tenant || held.series !== series) continue;
      if (decl && decl.kind === held.store.kind) {
        held.decl = decl;
        continue;
      }
      this.#release(key, held);
      dropped++;
    }
    return dropped;
  }

  #hold(key: string, tenant: string, series: string, labels: Readonly<Record<string, string>>): Held {
    const decl = this.#find(tenant, series)?.decl as SeriesDeclaration;
    const held: Held = { key, tenant, series, labels: { ...labels }, store: this.#newStore(decl), decl, planned: 0, plannedNewest: 0, written: 0 };
    this.#stores.set(key, held);
    this.#index.set(tenant, series, held.labels, held);
    this.#perTenant.set(tenant, (this.#perTenant.get(tenant) ?? 0) + 1);
    for (const [k, v] of Object.entries(labels)) {
      const vk = valuesKey(tenant, series, k);
      const values = this.#labelValues.get(vk) ?? new Map<string, number>();
      values.set(v, (values.get(v) ?? 0) + 1);
      this.#labelValues.set(vk, values);
    }
    return held;
  }

  #release(key: string, held: Held): void {
    this.#stores.delete(key);
    this.#index.delete(held.tenant, held.series, held.labels);
    const left = (this.#perTenant.get(held.tenant) ?? 1) - 1;
    if (left > 0) this.#perTenant.set(held.tenant, left);
    else this.#perTenant.delete(held.tenant);
    for (const [k, v] of Object.entries(held.labels)) {
      const vk = valuesKey(held.tenant, held.series, k);
      const values = this.#labelValues.get(vk);
      if (!values) continue;
      const n = (values.get(v) ?? 1) - 1;
      if (n > 0) values.set(v, n);
      else values.delete(v);
      if (values.size === 0) this.#labelValues.delete(vk);
    }
  }
}
