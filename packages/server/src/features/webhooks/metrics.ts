import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Metrics of webhooks, registered in the node's registry (served at /metrics). */
export function webhookMetrics(registry: Registry, backlog: () => Promise<Array<{ endpoint: string; n: number; oldest: number }>>, now: () => number) {
  const attempts = new Counter({
    name: 'switchboard_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome: 2xx, 3xx, 4xx, 5xx (the answer class), timeout_or_error (no answer), refused (SSRF)',
    labelNames: ['status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'switchboard_webhook_attempt_duration_seconds',
    help: 'Duration of webhook delivery attempts, connect to the end of the answer',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers: [registry],
  });
  const disabled = new Counter({
    name: 'switchboard_webhook_endpoints_disabled_total',
    help: 'Endpoints disabled by delivery outcomes, by reason (gone: a 410; failing: failed for webhooks.disableAfter)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const pending = new Gauge({
    name: 'switchboard_webhook_backlog',
    help: 'Pending webhook messages per endpoint (read from storage at scrape)',
    labelNames: ['endpoint'],
    registers: [registry],
    // Registered first, so it fills both gauges before either is read.
    async collect() {
      pending.reset();
      oldest.reset();
      try {
        for (const b of await backlog()) {
          pending.set({ endpoint: b.endpoint }, b.n);
          oldest.set({ endpoint: b.endpoint }, Math.max(0, (now() - b.oldest) / 1000));
        }
      } catch {
        // storage unavailable: the gauges stay empty for this scrape
      }
    },
  });
  const oldest = new Gauge({
    name: 'switchboard_webhook_oldest_pending_age_seconds',
    help: 'Age of the oldest pending webhook message per endpoint (read from storage at scrape)',
    labelNames: ['endpoint'],
    registers: [registry],
  });
  return {
    attempt(status: number | null, error: string | null, seconds: number): void {
      const label = status !== null ? `${Math.floor(status / 100)}xx` : error?.startsWith('refused by the SSRF') ? 'refused' : 'timeout_or_error';
      attempts.inc({ status: label });
      duration.observe(seconds);
    },
    disabled(reason: string): void {
      disabled.inc({ reason });
    },
  };
}
export type WebhookMetrics = ReturnType<typeof webhookMetrics>;
