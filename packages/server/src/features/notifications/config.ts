import { z } from 'zod';
import { bool, duration, int, stringList } from '../../config/fields.js';

/** Options of the notifications inbox, at `notifications` in the config (see docs/notifications.md). */
export const notificationsConfig = z.strictObject({
  groupWindow: duration('60s', 'notifications with the same group key within this window of the first merge into one'),
  retentionDays: int(90, 0, 36_500, 'days notifications are kept (0 = until the next sweep)'),
  sweepInterval: duration('1h', 'interval of the notifications retention sweep (also run at start)'),
  idempotencyTtl: duration('24h', 'how long an Idempotency-Key of a create request is remembered'),
  maxRecipients: int(1000, 1, 100_000, 'most users named in one create request'),
  pageSize: int(100, 1, 1000, 'largest page of a notifications list'),
  maxDataBytes: int(16_384, 0, 1_048_576, 'largest `data` of a notification, bytes of JSON'),
  clientCreate: bool(false, 'clients may create notifications (command notifications.create; also needs the publish capability on user:{recipient})'),
  clientTypes: stringList().default(['mention']).describe('types clients may create, comma separated (default mention)'),
});

export type NotificationsConfig = z.output<typeof notificationsConfig>;
