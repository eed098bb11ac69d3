import { ErrorCode } from '@switchboard/protocol';
import type { Identity } from '../../auth/token-verifier.js';
import type { Config } from '../../config/schema.js';
import type { LimitStore } from '../../engine/limit-store.js';
import { ReplyError } from '../../errors/reply-error.js';

/** A user's shared event budget: one bucket per tenant and user, on every node. */
export interface UserBudget {
  bucket: string;
  ratePerSecond: number;
  burst: number;
}

/**
 * The per-user budget over publishes, signals and presence updates
 * (`limits.eventsPerMinutePerUser`, burst `limits.eventsBurstPerUser` or a sixth of the
 * rate). On Redis the bucket is shared by every node; a publish takes from it inside its
 * own engine step, a signal or a presence update in a round trip of its own.
 */
export function userBudget(config: Config, identity: Identity): UserBudget {
  const { eventsPerMinutePerUser: perMinute, eventsBurstPerUser: burst } = config.limits;
  return { bucket: `ev|${identity.tenant}|${identity.user}`, ratePerSecond: perMinute / 60, burst: burst || Math.max(1, Math.ceil(perMinute / 6)) };
}

/** Take one event from the user's budget, or refuse with a temporary 111 that says when to retry. */
export async function spendUserBudget(config: Config, limits: LimitStore, identity: Identity, what: string): Promise<void> {
  const b = userBudget(config, identity);
  const wait = await limits.takeOrWait(b.bucket, b.ratePerSecond, b.burst);
  if (wait > 0) throw new ReplyError(ErrorCode.TooManyRequests, `${what}: events per user`, wait);
}
