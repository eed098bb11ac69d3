import { Counter, type Registry } from 'prom-client';
import type { AddOutcome } from './aggregator.js';

/** Metrics of the audit log, registered in the node's registry (served at /metrics). */
export function auditMetrics(registry: Registry) {
  const written = new Counter({
    name: 'switchboard_audit_rows_written_total',
    help: 'Audit rows written, by type',
    labelNames: ['type'],
    registers: [registry],
  });
  const aggregated = new Counter({
    name: 'switchboard_audit_events_aggregated_total',
    help: 'Audit events counted into a row of their minute window instead of a row of their own',
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'switchboard_audit_events_dropped_total',
    help: 'Audit events beyond a cap, counted only in an audit.overflow row (ip_cap: audit.rowsPerIpPerMinute; key_cap: audit.maxKeysPerWindow) or lost (write_failed)',
    labelNames: ['reason'],
    registers: [registry],
  });
  return {
    outcome(o: AddOutcome, count: number): void {
      if (o === 'merged') aggregated.inc(count);
      else if (o === 'new') {
        if (count > 1) aggregated.inc(count - 1);
      } else dropped.inc({ reason: o }, count);
    },
    written(type: string): void {
      written.inc({ type });
    },
    lost(n: number): void {
      if (n > 0) dropped.inc({ reason: 'write_failed' }, n);
    },
  };
}
export type AuditMetrics = ReturnType<typeof auditMetrics>;
