import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import type { LocksConfig } from './config.js';
import type { Locks } from './locks.js';
import { channelName, checkLockInput, fencingToken, lockInfoSchema, lockKey, userId } from './schemas.js';

function lockChannel(node: NodeContext, tenant: string, channel: string): ResolvedChannel {
  const ch = node.resolve(tenant, channel);
  if (ch.options['locks'] !== true) throw new ReplyError(ErrorCode.NotAvailable, 'locks are disabled in this namespace');
  return ch;
}

const channelParams = z.strictObject({ channel: channelName });
const keyParams = z.strictObject({ channel: channelName, key: lockKey });

/** The backend's lock routes: read who holds what, hold leases for a user, take any lock back. */
export function lockRoutes(locks: () => Locks, config: LocksConfig): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/locks',
      operationId: 'listLocks',
      tag: 'locks',
      summary: 'The locks held on keys of a channel',
      params: channelParams,
      response: z.object({ locks: z.array(lockInfoSchema) }),
      errors: [422, 503],
      async handler({ node, tenant, params }) {
        const ch = lockChannel(node, tenant, params.channel);
        return { locks: await locks().list(ch.tenant, ch.channel) };
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/channels/:channel/locks/:key',
      operationId: 'putLock',
      tag: 'locks',
      summary: 'Acquire a lease on a key for a user, or renew it with its fencing token',
      description: `A backend lease from ${config.minLease} ms to ${config.maxLease} ms, released at \`expiresAt\` unless renewed (PUT again with \`fencingToken\`). 409 with code 130 and \`data.holder\` while another holder has the key; 409 with 131 for a token that is not the current grant.`,
      params: keyParams,
      body: z.strictObject({
        userId,
        ttlMs: z.number().int().min(1),
        attributes: z.unknown().optional(),
        fencingToken: fencingToken.optional().describe('renew the lease this token names'),
      }),
      response: lockInfoSchema,
      errors: [409, 413, 422, 503],
      async handler({ node, tenant, params, body }) {
        const ch = lockChannel(node, tenant, params.channel);
        checkLockInput(config, params.key, body.attributes);
        return locks().lease(ch, params.key, {
          user: body.userId,
          ttlMs: body.ttlMs,
          ...(body.attributes !== undefined ? { attributes: body.attributes } : {}),
          ...(body.fencingToken !== undefined ? { fencingToken: body.fencingToken } : {}),
        });
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/locks/:key',
      operationId: 'getLock',
      tag: 'locks',
      summary: 'Who holds a key of a channel (404 when it is free)',
      params: keyParams,
      response: lockInfoSchema,
      errors: [404, 422, 503],
      async handler({ node, tenant, params }) {
        const ch = lockChannel(node, tenant, params.channel);
        const lock = await locks().get(ch.tenant, ch.channel, params.key);
        if (!lock) throw new ReplyError(ErrorCode.NotFound, `no lock on ${params.key}`);
        return lock;
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/channels/:channel/locks/:key',
      operationId: 'deleteLock',
      tag: 'locks',
      summary: 'Release a lease by its fencing token, or take any lock back with force=true',
      description: 'Answers the released lock. A released lock is announced on the channel with its reason (`released` or `forced`).',
      params: keyParams,
      query: z.strictObject({
        fencingToken: fencingToken.optional(),
        force: z.enum(['true', 'false']).optional().describe('take the lock back whoever holds it'),
      }),
      response: lockInfoSchema,
      errors: [404, 409, 422, 503],
      async handler({ node, tenant, params, query }) {
        const ch = lockChannel(node, tenant, params.channel);
        if (query.force === 'true') {
          const released = await locks().forceRelease(ch.tenant, ch.channel, params.key);
          if (!released) throw new ReplyError(ErrorCode.NotFound, `no lock on ${params.key}`);
          return released;
        }
        if (query.fencingToken === undefined) throw new ReplyError(ErrorCode.BadRequest, 'give fencingToken, or force=true');
        return locks().unlease(ch.tenant, ch.channel, params.key, query.fencingToken);
      },
    }),
  ];
}
