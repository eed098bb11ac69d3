import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { RateLimited } from '../engine/broker.js';
import type { Engine } from '../engine/engine.js';
import { ReplyError } from '../errors/reply-error.js';

/**
 * An engine operation's failure as a client sees it: a ReplyError as it is, a publish rate
 * limit as 111, anything else as the temporary 116 (logged as a warning while the engine is
 * up, at debug level while it is away).
 */
export function engineError(engine: Pick<Engine, 'broker'>, logger: Logger, err: unknown, where: string): ReplyError {
  if (err instanceof ReplyError) return err;
  if (err instanceof RateLimited) return new ReplyError(ErrorCode.TooManyRequests, 'publish: events per user', err.retryAfterMs);
  if (engine.broker.ready()) logger.warn({ err, where }, 'engine operation failed');
  else logger.debug({ err: err instanceof Error ? err.message : String(err), where }, 'engine unavailable');
  return new ReplyError(ErrorCode.Unavailable, where);
}
