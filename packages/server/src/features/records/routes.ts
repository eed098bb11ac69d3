import { USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { idempotencyHeaders } from '../../http/api/schemas.js';
import type { RecordsConfig } from './config.js';
import type { Records } from './records.js';
import { channelName, recordPage, recordState, writeParams, writeResult } from './schemas.js';

const TAG = 'records';
const channelParams = z.strictObject({ channel: channelName });
const userId = z.string().regex(USER_RE, 'not a valid user id (1–128 printable ASCII characters, no ":" or spaces)').describe('the user the write is by');
const backend = (tenant: string) => ({ tenant, identity: null });

/** HTTP routes of records for the app backend (under /api/v1, API key required). */
export function recordRoutes(records: () => Records, config: RecordsConfig): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/channels/:channel/record',
      operationId: 'getRecord',
      tag: TAG,
      summary: 'A record: its version, its fields (value, version, author, updatedAt) and their policies',
      description: 'A record never written has version 0 and no fields.',
      params: channelParams,
      response: recordState,
      errors: [422, 503],
      async handler({ tenant, params }) {
        return records().readAs(backend(tenant), params.channel);
      },
    }),
    defineRoute({
      method: 'PATCH',
      url: '/channels/:channel/record',
      operationId: 'writeRecord',
      tag: TAG,
      summary: 'Write fields of a record on a base version, by `userId`, under the fields’ conflict policies',
      description:
        'All changes apply or none. 409 with code 134 and `data.conflicts` (each field’s current value, version and author) when a `manual` field, or a `merge` scalar, changed since `base`; nothing changed then. An Idempotency-Key makes a retry apply once (200 with `deduplicated`).',
      headers: idempotencyHeaders,
      params: channelParams,
      body: z.strictObject({ userId, ...writeParams }),
      response: writeResult,
      errors: [409, 413, 422, 503],
      async handler({ tenant, params, body, headers }) {
        const key = headers['idempotency-key'];
        return records().writeAs(backend(tenant), params.channel, {
          base: body.base,
          changes: body.changes,
          author: body.userId,
          fencing: body.fencing,
          idempotencyKey: key === undefined ? undefined : `api:${key}`,
        });
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/records',
      operationId: 'listRecords',
      tag: TAG,
      summary: 'Records of the tenant whose channel starts with `prefix`, by channel name, one page',
      query: z.strictObject({
        prefix: z.string().max(1024).optional().describe('e.g. `form:`'),
        cursor: z.string().max(1024).optional().describe('`nextCursor` of the previous page'),
        limit: z.coerce.number().int().min(1).max(config.pageSize).optional().describe(`page size (default and at most ${config.pageSize})`),
      }),
      response: recordPage,
      errors: [503],
      async handler({ tenant, query }) {
        return records().list(tenant, query.prefix ?? '', query.cursor, query.limit ?? config.pageSize);
      },
    }),
  ];
}
