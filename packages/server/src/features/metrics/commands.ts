import { ErrorCode } from '@switchboard/protocol';
import { z } from 'zod';
import { allows } from '../../auth/capabilities.js';
import type { Identity } from '../../auth/token-verifier.js';
import { type CommandDefinition, defineCommand } from '../../core/command.js';
import { ReplyError } from '../../errors/reply-error.js';
import type { Ingest } from './ingest.js';
import type { PointInput } from './metric-stores.js';
import { pointRow, rowsOf } from './routes.js';

/** The channel a token's `ingest` capability names for a series: `metrics:<series>`. */
export const ingestChannel = (series: string): string => `metrics:${series}`;

/** Refuse the batch (103) unless the token may ingest into every series it names. */
function checkIngest(identity: Identity, points: readonly PointInput[]): void {
  const seen = new Set<string>();
  for (const p of points) {
    if (seen.has(p.series)) continue;
    seen.add(p.series);
    if (!allows(identity.capabilities, ingestChannel(p.series), 'ingest'))
      throw new ReplyError(ErrorCode.PermissionDenied, `needs the ingest capability on ${ingestChannel(p.series)}`);
  }
}

/**
 * `metrics.push {points: [{series, labels?, ts?, value}]}`: the row form of the HTTP ingest,
 * into the connection's own tenant, through the same path (cap, budget, check, write; all or
 * nothing, the first 100 problems by index). The token needs `ingest` on `metrics:<series>`
 * for every series of the batch. Answers `{accepted}`.
 */
export function metricCommands(ingest: () => Ingest): CommandDefinition[] {
  return [
    defineCommand({
      method: 'metrics.push',
      params: z.strictObject({ points: z.array(pointRow) }),
      async handler({ client }, p) {
        const identity = client.identity as Identity;
        return { accepted: await ingest().push(identity.tenant, rowsOf(p.points), 'socket', (batch) => checkIngest(identity, batch)) };
      },
    }),
  ];
}
