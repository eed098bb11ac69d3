import { z } from 'zod';
import { duration, int } from '../../config/fields.js';

/** Options of the audit log, at `audit` in the config (see docs/audit.md). */
export const auditConfig = z.strictObject({
  retention: duration('90d', 'audit entries older than this are deleted by the sweep'),
  sweepInterval: duration('1h', 'interval of the audit retention sweep (a job of the job runner; also due at start)'),
  rowsPerIpPerMinute: int(
    20,
    2,
    10_000,
    'most audit rows one IP address causes per minute and node; the last is an `audit.overflow` row counting what did not get its own',
  ),
  maxKeysPerWindow: int(
    10_000,
    100,
    1_000_000,
    'most distinct aggregation keys held in memory per minute window; beyond, events are counted in one overflow row',
  ),
  pageSize: int(100, 1, 1000, 'largest page of GET /audit'),
});

export type AuditConfig = z.output<typeof auditConfig>;
