import cluster, { type Worker } from 'node:cluster';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type HostView, hostReadiness, mergeMetrics, type ProcessReport, type Readiness } from '../observability/host-view.js';

/**
 * The host view of `serve --workers N` over the cluster IPC channel: a worker asked for
 * `/metrics` or `/readyz` asks the primary, which asks every worker for its report (bounded
 * wait), adds its own and answers. A worker that does not answer in time is left out of the
 * metrics and makes the host not ready.
 */
const VIEW = 'sb:view';
const VIEW_RESULT = 'sb:view-result';
const REPORT = 'sb:report';
const REPORT_RESULT = 'sb:report-result';
/** How long the primary waits for the workers' reports (ms). */
const REPORT_WAIT_MS = 1000;
/** How long a worker waits for the primary's answer (ms): the reports' wait and some. */
const VIEW_WAIT_MS = REPORT_WAIT_MS + 1000;

type What = 'metrics' | 'readiness';
interface ViewMessage {
  type: typeof VIEW;
  id: number;
  what: What;
}
interface ReportMessage {
  type: typeof REPORT;
  id: number;
  what: What;
}
interface ReportResult {
  type: typeof REPORT_RESULT;
  id: number;
  report: ProcessReport;
}
interface ViewResult {
  type: typeof VIEW_RESULT;
  id: number;
  text?: string;
  readiness?: Readiness;
}

export interface PrimaryState {
  /** The live workers and their indexes. */
  workers: ReadonlyMap<Worker, number>;
  /** How many workers there should be. */
  count: number;
  /** Whether the primary is shutting down. */
  stopping(): boolean;
  restarts(): number;
}

/** In the primary: answer the workers' questions about the whole host. */
export function serveHostView(state: PrimaryState): void {
  const registry = primaryRegistry(state);
  const waiting = new Map<number, { reports: ProcessReport[]; missing: Set<Worker>; done(): void }>();
  let next = 0;
  const expected = ['primary', ...Array.from({ length: state.count }, (_, i) => String(i))];

  const collect = (what: What): Promise<ProcessReport[]> => {
    const id = ++next;
    const workers = [...state.workers.keys()].filter((w) => w.isConnected());
    return new Promise((resolve) => {
      const reports: ProcessReport[] = [];
      const timer = setTimeout(() => entry.done(), REPORT_WAIT_MS);
      const entry = {
        reports,
        missing: new Set(workers),
        done: () => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(reports);
        },
      };
      waiting.set(id, entry);
      for (const w of workers) w.send({ type: REPORT, id, what } satisfies ReportMessage, undefined, () => {});
      if (workers.length === 0) entry.done();
    });
  };

  cluster.on('message', (worker: Worker, m: ViewMessage | ReportResult) => {
    if (m?.type === REPORT_RESULT) {
      const entry = waiting.get(m.id);
      if (!entry?.missing.delete(worker)) return;
      entry.reports.push(m.report);
      if (entry.missing.size === 0) entry.done();
      return;
    }
    if (m?.type !== VIEW) return;
    void (async () => {
      const reports = await collect(m.what);
      const own: ProcessReport = { worker: 'primary', ready: !state.stopping(), checks: state.stopping() ? { primary: 'draining' } : {} };
      if (m.what === 'metrics') own.metrics = await registry.getMetricsAsJSON();
      const all = [own, ...reports];
      const result: ViewResult =
        m.what === 'metrics'
          ? { type: VIEW_RESULT, id: m.id, text: await mergeMetrics(all) }
          : { type: VIEW_RESULT, id: m.id, readiness: hostReadiness(expected, all) };
      if (worker.isConnected()) worker.send(result, undefined, () => {});
    })();
  });
}

/** The primary's own series: its process, the workers running and the restarts so far. */
function primaryRegistry(state: PrimaryState): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  new Gauge({
    name: 'switchboard_workers',
    help: 'Worker processes running (serve --workers N)',
    registers: [registry],
    collect() {
      this.set(state.workers.size);
    },
  });
  new Gauge({
    name: 'switchboard_worker_restarts',
    help: 'Workers started in place of one that exited unasked, since the primary started',
    registers: [registry],
    collect() {
      this.set(state.restarts());
    },
  });
  return registry;
}

/**
 * In a worker: answer the primary's report requests with `report`, and give the HTTP app the
 * host view. Without an answer from the primary, `/metrics` shows this worker alone and
 * `/readyz` is not ready.
 */
export function workerHostView(index: number, report: (withMetrics: boolean) => Promise<Omit<ProcessReport, 'worker'>>): HostView {
  const pending = new Map<number, (result: ViewResult | null) => void>();
  let next = 0;
  process.on('message', (m: ReportMessage | ViewResult) => {
    if (m?.type === REPORT) {
      void report(m.what === 'metrics').then((r) =>
        process.send?.({ type: REPORT_RESULT, id: m.id, report: { ...r, worker: String(index) } } satisfies ReportResult, undefined, {}, () => {}),
      );
    } else if (m?.type === VIEW_RESULT) {
      pending.get(m.id)?.(m);
    }
  });
  const ask = (what: What): Promise<ViewResult | null> => {
    const id = ++next;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(null), VIEW_WAIT_MS);
      const settle = (result: ViewResult | null) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(result);
      };
      pending.set(id, settle);
      if (!process.send?.({ type: VIEW, id, what } satisfies ViewMessage, undefined, {}, () => {})) settle(null);
    });
  };
  return {
    async metrics() {
      const result = await ask('metrics');
      if (result?.text !== undefined) return result.text;
      const own = await report(true);
      return mergeMetrics([{ ...own, worker: String(index) }]);
    },
    async readiness() {
      const result = await ask('readiness');
      return result?.readiness ?? { ready: false, checks: { host: 'no answer from the primary' } };
    },
  };
}
