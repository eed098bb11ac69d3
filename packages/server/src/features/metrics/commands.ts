import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { allows } from '../../auth/capabilities.js';
import type { Identity } from '../../auth/token-verifier.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { Ingest } from './ingest.js';
import { columnBlock, columnsOf, pointRow, rowsOf } from './routes.js';

/** The channel a token's `ingest` capability names for a series: `metrics:<series>`. */
export const ingestChannel = (series: string): string => `metrics:${series}`;

/** Refuse the batch (103) unless the token may ingest into every series it names. */
function checkIngest(identity: Identity, points: ReadonlyArray<{ readonly series: string }>): void {
  const seen = new Set<string>();
  for (const p of points) {
    if (seen.has(p.series)) continue;
    seen.add(p.series);
    if (!allows(identity.capabilities, ingestChannel(p.series), 'ingest'))
      throw new ReplyError(ErrorCode.PermissionDenied, `needs the ingest capability on ${ingestChannel(p.series)}`);
  }
}

/**
 * `metrics.push {points: [{series, labels?, ts?, value}]}` (the row form of the HTTP ingest) or
 * `{blocks: [{series, labels?, ts?, values}]}` (its columnar blocks, checked and written block by
 * block; the SDK sends these), into
 * the connection's own tenant, through the same path (cap, budget, check, write; all or
 * nothing, the first 100 problems by index in batch order). The token needs `ingest` on
 * `metrics:<series>` for every series of the batch. Answers `{accepted}`.
 */
export function metricCommands(ingest: () => Ingest): CommandDefinition[] {
  return [
    defineCommand({
      method: 'metrics.push',
      params: z.strictObject({ points: z.array(pointRow).optional(), blocks: z.array(columnBlock).optional() }),
      async handler({ client }, p) {
        const identity = client.identity as Identity;
        const authorize = (batch: ReadonlyArray<{ readonly series: string }>) => checkIngest(identity, batch);
        if ((p.points === undefined) === (p.blocks === undefined)) throw new ReplyError(ErrorCode.BadRequest, 'give exactly one of points or blocks');
        if (p.points !== undefined) return { accepted: await ingest().push(identity.tenant, rowsOf(p.points), 'socket', authorize) };
        return { accepted: await ingest().pushBlocks(identity.tenant, (p.blocks ?? []).map(columnsOf), 'socket', authorize) };
      },
    }),
  ];
}
