import type { ChildRegistry } from './children.js';
import { Histogram } from './histogram.js';
import type { ChannelLayout, CountersReply, OpStats, ResultsReply, Target, WorkerReply, WorkerRequest } from './ipc.js';
import { Peer } from './peer.js';

type WorkerPeer = Peer<WorkerRequest, WorkerReply>;

export interface OpenSpec {
  count: number;
  userPrefix: string;
  layout: ChannelLayout;
  presence?: boolean;
  watchPresence?: boolean;
  role?: string;
}

export interface OpenSummary {
  requested: number;
  ok: number;
  failed: number;
  errors: string[];
  seconds: number;
  perSecond: number;
  latency: Histogram;
}

/** Two open phases as one (e.g. observers and members). */
export function combineOpens(a: OpenSummary, b: OpenSummary): OpenSummary {
  const seconds = a.seconds + b.seconds;
  return {
    requested: a.requested + b.requested,
    ok: a.ok + b.ok,
    failed: a.failed + b.failed,
    errors: [...a.errors, ...b.errors].slice(0, 5),
    seconds,
    perSecond: (a.ok + b.ok) / seconds,
    latency: Histogram.merge([a.latency, b.latency]),
  };
}

/** Merged outcome of one kind of command over every worker. */
export interface MergedOps {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  latency: Histogram;
}

export function mergeOps(parts: ReadonlyArray<Record<string, OpStats>>): Record<string, MergedOps> {
  const out: Record<string, MergedOps> = {};
  for (const part of parts) {
    for (const [name, s] of Object.entries(part)) {
      out[name] ??= { ok: 0, failed: 0, errors: {}, latency: new Histogram() };
      const m = out[name];
      m.ok += s.ok;
      m.failed += s.failed;
      for (const [code, n] of Object.entries(s.errors)) m.errors[code] = (m.errors[code] ?? 0) + n;
      m.latency.add(s.latency);
    }
  }
  return out;
}

/** Sum per-channel counts, or keep the highest value per channel. */
export function mergeRecords(parts: ReadonlyArray<Record<string, number>>, how: 'sum' | 'max'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of parts) {
    for (const [k, v] of Object.entries(part)) out[k] = how === 'sum' ? (out[k] ?? 0) + v : Math.max(out[k] ?? v, v);
  }
  return out;
}

export interface MergedResults extends Omit<ResultsReply, 'type' | 'latency' | 'presenceLatency'> {
  latency: Histogram;
  presenceLatency: Histogram;
}

/** The worker processes of one run, and their connections numbered 0 … n-1 across all of them. */
export class Fleet {
  readonly #peers: WorkerPeer[];
  #next = 0;

  private constructor(
    peers: WorkerPeer[],
    readonly target: Target,
    readonly addresses: string[],
    readonly concurrency: number,
  ) {
    this.#peers = peers;
  }

  static start(workers: number, target: Target, addresses: string[], concurrency: number, registry: ChildRegistry): Fleet {
    const file = new URL('./worker.js', import.meta.url);
    const peers = Array.from({ length: workers }, (_, i) => Peer.fork<WorkerRequest, WorkerReply>(`worker ${i + 1}`, file, { registry }));
    return new Fleet(peers, target, addresses, concurrency);
  }

  get pids(): number[] {
    return this.#peers.map((p) => p.pid).filter((p): p is number => p !== undefined);
  }

  get size(): number {
    return this.#next;
  }

  /** Worker processes. */
  get workers(): number {
    return this.#peers.length;
  }

  /** A request of its own to each worker (`build(w)` for worker w of `workers`). */
  each<T extends WorkerReply['type']>(build: (w: number) => WorkerRequest, reply: T, timeoutMs: number): Promise<Array<Extract<WorkerReply, { type: T }>>> {
    return Promise.all(this.#peers.map((p, w) => p.request(build(w), reply, timeoutMs)));
  }

  /** The same request to every worker. */
  all<T extends WorkerReply['type']>(req: WorkerRequest, reply: T, timeoutMs: number): Promise<Array<Extract<WorkerReply, { type: T }>>> {
    return Promise.all(this.#peers.map((p) => p.request(req, reply, timeoutMs)));
  }

  /** Open `count` more connections, split evenly over the workers in consecutive blocks. */
  async open(spec: OpenSpec, timeoutMs: number): Promise<OpenSummary> {
    const n = this.#peers.length;
    const perWorker = Math.ceil(this.concurrency / n);
    const parts = await Promise.all(
      this.#peers.map((peer, w) => {
        const count = Math.floor(spec.count / n) + (w < spec.count % n ? 1 : 0);
        const base = this.#next + w * Math.floor(spec.count / n) + Math.min(w, spec.count % n);
        return peer.request(
          {
            type: 'open',
            target: this.target,
            base,
            count,
            userPrefix: spec.userPrefix,
            layout: spec.layout,
            addresses: this.addresses,
            concurrency: perWorker,
            presence: spec.presence ?? false,
            watchPresence: spec.watchPresence ?? false,
            role: spec.role ?? 'client',
          },
          'opened',
          timeoutMs,
        );
      }),
    );
    this.#next += spec.count;
    const startUs = Math.min(...parts.map((p) => p.startUs));
    const endUs = Math.max(...parts.map((p) => p.endUs));
    const ok = parts.reduce((a, p) => a + p.ok, 0);
    const seconds = Math.max(1e-6, (endUs - startUs) / 1e6);
    return {
      requested: spec.count,
      ok,
      failed: parts.reduce((a, p) => a + p.failed, 0),
      errors: parts.flatMap((p) => p.errors).slice(0, 5),
      seconds,
      perSecond: ok / seconds,
      latency: Histogram.merge(parts.map((p) => p.latency)),
    };
  }

  async counters(timeoutMs = 3000): Promise<Omit<CountersReply, 'type' | 'recent'> & { recent: Histogram }> {
    const parts = await this.all({ type: 'counters' }, 'counters', timeoutMs);
    const sum = (f: (p: CountersReply) => number) => parts.reduce((a, p) => a + f(p), 0);
    return {
      open: sum((p) => p.open),
      failed: sum((p) => p.failed),
      received: sum((p) => p.received),
      measured: sum((p) => p.measured),
      presenceEvents: sum((p) => p.presenceEvents),
      recent: Histogram.merge(parts.map((p) => p.recent)),
      lastRecvUs: Math.max(...parts.map((p) => p.lastRecvUs)),
    };
  }

  async results(expected: Record<string, number>, measuredPerChannel: Record<string, number>, timeoutMs = 30_000): Promise<MergedResults> {
    const parts = await this.all({ type: 'results', expected, measuredPerChannel }, 'results', timeoutMs);
    const sum = (f: (p: ResultsReply) => number) => parts.reduce((a, p) => a + f(p), 0);
    const withConns = parts.filter((p) => p.open > 0 || p.connections > 0);
    return {
      connections: sum((p) => p.connections),
      open: sum((p) => p.open),
      received: sum((p) => p.received),
      measured: sum((p) => p.measured),
      latency: Histogram.merge(parts.map((p) => p.latency)),
      minPerConnection: withConns.length ? Math.min(...withConns.map((p) => p.minPerConnection)) : 0,
      maxPerConnection: Math.max(0, ...parts.map((p) => p.maxPerConnection)),
      missed: sum((p) => p.missed),
      duplicates: sum((p) => p.duplicates),
      outOfOrder: sum((p) => p.outOfOrder),
      presenceEvents: sum((p) => p.presenceEvents),
      presenceLatency: Histogram.merge(parts.map((p) => p.presenceLatency)),
      signals: sum((p) => p.signals),
      lost: mergeRecords(
        parts.map((p) => p.lost),
        'sum',
      ),
      succeeded: sum((p) => p.succeeded),
      expected: sum((p) => p.expected),
      lastRecvUs: Math.max(...parts.map((p) => p.lastRecvUs)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#peers.map((p) => p.stop({ type: 'close' }, 'closed', 5000)));
  }

  kill(): void {
    for (const p of this.#peers) p.kill();
  }
}
