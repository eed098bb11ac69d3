import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import type { NodeContext, SessionContext } from '../../core/context.js';
import { type Action, can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { LocksConfig } from './config.js';
import type { LockClient, Locks } from './locks.js';
import { channelName, checkLockInput, lockKey } from './schemas.js';

/** The channel of a lock command, for the connection's tenant: 108 where the namespace has no locks, 103 without the permission. */
export function lockChannel(node: NodeContext, identity: Identity, channel: string, action: Action): ResolvedChannel {
  const ch = node.resolve(identity.tenant, channel);
  if (ch.options['locks'] !== true) throw new ReplyError(ErrorCode.NotAvailable, 'locks are disabled in this namespace');
  if (!can(identity, ch, action)) throw new ReplyError(ErrorCode.PermissionDenied, `needs the ${action} permission on ${ch.channel}`);
  return ch;
}

function lockClient(client: SessionContext, session: string | undefined): LockClient {
  const identity = client.identity as Identity;
  return {
    id: client.id,
    get closed() {
      return client.closed;
    },
    user: identity.user,
    session: session ?? client.id,
  };
}

/** Client commands of the lock service; every one acts in the connection's own tenant. */
export function lockCommands(locks: () => Locks, config: () => LocksConfig): CommandDefinition[] {
  return [
    defineCommand({
      method: 'locks.acquire',
      params: z.strictObject({
        channel: channelName,
        key: lockKey,
        attributes: z.unknown().optional(),
        waitMs: z.number().int().min(0).optional(),
        session: z.string().min(1).max(64).optional(),
        steal: z.boolean().optional(),
      }),
      async handler({ client, node }, p) {
        const identity = client.identity as Identity;
        const cfg = config();
        const ch = lockChannel(node, identity, p.channel, 'lock');
        checkLockInput(cfg, p.key, p.attributes);
        if (p.waitMs !== undefined && p.waitMs > cfg.maxWait) throw new ReplyError(ErrorCode.BadRequest, `waitMs above ${cfg.maxWait}`);
        if (p.steal) lockChannel(node, identity, p.channel, 'unlock');
        const options = {
          ...(p.attributes !== undefined ? { attributes: p.attributes } : {}),
          ...(p.waitMs !== undefined ? { waitMs: p.waitMs } : {}),
          ...(p.steal ? { steal: true } : {}),
        };
        return locks().acquire(ch, p.key, lockClient(client, p.session), options);
      },
    }),
    defineCommand({
      method: 'locks.release',
      params: z.strictObject({ channel: channelName, key: lockKey, force: z.boolean().optional() }),
      async handler({ client, node }, p) {
        const identity = client.identity as Identity;
        if (p.force) {
          const ch = lockChannel(node, identity, p.channel, 'unlock');
          const released = await locks().forceRelease(ch.tenant, ch.channel, p.key);
          if (!released) throw new ReplyError(ErrorCode.NotFound, `no lock on ${p.key}`);
          return released;
        }
        const ch = lockChannel(node, identity, p.channel, 'lock');
        return locks().release(ch, p.key, lockClient(client, undefined));
      },
    }),
    defineCommand({
      method: 'locks.list',
      params: z.strictObject({ channel: channelName }),
      async handler({ client, node }, p) {
        const ch = lockChannel(node, client.identity as Identity, p.channel, 'subscribe');
        return { locks: await locks().list(ch.tenant, ch.channel) };
      },
    }),
  ];
}
