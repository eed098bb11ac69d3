import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How a backend call ended, the `outcome` label of the calls counter. */
export type CallOutcome = 'ok' | 'refused' | 'timeout' | 'unavailable' | 'invalid' | 'busy';

/** Metrics of backend hooks, registered in the node's registry (served at /metrics). */
export function backendHookMetrics(registry: Registry, inFlight: () => number) {
  const calls = new Counter({
    name: 'switchboard_backend_hook_calls_total',
    help: 'Calls to the app backend by hook and outcome (ok, refused, timeout, unavailable, invalid, busy)',
    labelNames: ['hook', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'switchboard_backend_hook_duration_seconds',
    help: 'Latency of calls to the app backend by hook (answer read included; refused-as-busy calls not observed)',
    labelNames: ['hook'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'switchboard_backend_hook_in_flight',
    help: 'Calls to the app backend in flight on this node',
    registers: [registry],
    collect() {
      this.set(inFlight());
    },
  });
  return {
    observe(hook: string, outcome: CallOutcome, seconds: number | null): void {
      calls.inc({ hook, outcome });
      if (seconds !== null) duration.observe({ hook }, seconds);
    },
  };
}
export type BackendHookMetrics = ReturnType<typeof backendHookMetrics>;
