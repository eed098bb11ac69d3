import { z } from 'zod';
import { type ApiRoute, defineRoute } from '../../http/api/route.js';
import { cursorParam, timeParam } from '../../storage/paging.js';
import type { AuditConfig } from './config.js';
import type { AuditLog } from './service.js';

const TAG = 'audit';

function auditQuery(pageSize: number) {
  return z.strictObject({
    type: z
      .string()
      .max(100)
      .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/, 'expected a type such as auth.failed, or a group such as admin.*')
      .optional()
      .describe('an entry type (`auth.failed`), or a group (`admin.*`)'),
    user: z.string().min(1).max(128).optional(),
    ip: z.string().min(1).max(64).optional(),
    from: timeParam.optional().describe('entries whose minute starts at or after this (Unix ms or ISO 8601)'),
    to: timeParam.optional().describe('entries whose minute starts at or before this (Unix ms or ISO 8601); before `from`: 400 (129)'),
    cursor: cursorParam.optional().describe('`nextCursor` of the previous page'),
    limit: z.coerce.number().int().min(1).max(pageSize).optional().describe(`entries per page (default and most ${pageSize})`),
  });
}

const entry = z.object({
  id: z.string(),
  tenant: z.string().nullable().describe('null: the system scope'),
  type: z.string(),
  at: z.number().describe('Unix ms: the start of the minute the entry aggregates (an admin action: when it happened)'),
  user: z.string().nullable(),
  ip: z.string().nullable(),
  count: z.number().describe('events this entry stands for'),
  firstAt: z.number(),
  lastAt: z.number(),
  detail: z.record(z.string(), z.unknown()),
});
const page = z.object({ entries: z.array(entry), nextCursor: z.string().nullable() });

const FILTERS =
  'Newest first. Filters: `type` (exact, or `group.*`), `user`, `ip`, `from`/`to` (on `at`); `cursor` is the opaque `nextCursor` of the previous page (a cursor this API did not give: 400). Entries of a minute are written when the minute ends.';

/** The audit log over HTTP: a tenant's entries (tenant key, or admin key with X-Switchboard-Tenant), and the system scope (admin key). */
export function auditRoutes(log: () => AuditLog, config: AuditConfig): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/audit',
      operationId: 'listAuditEntries',
      tag: TAG,
      summary: "The tenant's audit entries: security events and admin actions",
      description: `${FILTERS} Another tenant's entries are never listed: a tenant key naming another tenant is 403.`,
      query: auditQuery(config.pageSize),
      response: page,
      errors: [503],
      handler: ({ tenant, query }) => log().query(tenant, query),
    }),
    defineRoute({
      method: 'GET',
      url: '/audit/system',
      operationId: 'listSystemAuditEntries',
      tag: TAG,
      summary: 'Audit entries of no tenant (admin key): forged tokens, unknown API keys, connection rates per IP, overflow counts',
      description: `${FILTERS} Only an admin key, with no tenant header.`,
      admin: true,
      query: auditQuery(config.pageSize),
      response: page,
      errors: [503],
      handler: ({ query }) => log().query(null, query),
    }),
  ];
}
