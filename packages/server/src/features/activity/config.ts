import { z } from 'zod';
import { duration, int } from '../../config/fields.js';

/** Options of activity feeds, at `activity` in the config (see docs/activity.md). */
export const activityConfig = z.strictObject({
  groupWindow: duration('0', 'consecutive activities of one actor and verb in one scope within this window merge into one (0 = never)'),
  retentionDays: int(365, 0, 36_500, 'days activities are kept (0 = until the next sweep)'),
  sweepInterval: duration('1h', 'interval of the activity retention sweep (also run at start)'),
  idempotencyTtl: duration('24h', 'how long an Idempotency-Key of a record request is remembered'),
  pageSize: int(100, 1, 1000, 'largest page of an activity list'),
  maxDataBytes: int(16_384, 0, 1_048_576, 'largest `data` of an activity, bytes of JSON'),
});

export type ActivityConfig = z.output<typeof activityConfig>;
