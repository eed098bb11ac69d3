import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import type { Identity } from '../../auth/token-verifier.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import type { SessionContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { Records } from './records.js';
import { channelName, idempotencyKey, session, writeParams } from './schemas.js';

const actorOf = (client: SessionContext) => {
  const identity = client.identity as Identity;
  return { tenant: identity.tenant, identity };
};

/** Client commands of records: a connection reads and writes as its own user, in its own tenant. */
export function recordCommands(records: () => Records): CommandDefinition[] {
  return [
    defineCommand({
      method: 'records.read',
      params: z.strictObject({ channel: channelName }),
      async handler({ client }, p) {
        return records().readAs(actorOf(client), p.channel);
      },
    }),
    defineCommand({
      method: 'records.write',
      params: z.strictObject({ channel: channelName, ...writeParams, idempotencyKey: idempotencyKey.optional(), session: session.optional() }),
      async handler({ client }, p) {
        if (!client.publishBucket.take()) throw new ReplyError(ErrorCode.TooManyRequests, 'publish rate per connection');
        const actor = actorOf(client);
        const user = actor.identity.user;
        return records().writeAs(actor, p.channel, {
          base: p.base,
          changes: p.changes,
          author: user,
          session: p.session,
          fencing: p.fencing,
          idempotencyKey: p.idempotencyKey === undefined ? undefined : `user:${user}:${p.idempotencyKey}`,
        });
      },
    }),
  ] as CommandDefinition[];
}
