import { z } from 'zod';
import { ADMIN_ACTIONS } from '../../core/security-events.js';
import { defineEventType, type EventType } from '../events.js';

/**
 * Every audit entry of a tenant is also a webhook event `audit.<type>` (system-scope entries
 * have no tenant and no endpoint to go to). The payload is the entry as `GET /audit` shows it.
 */
export const auditEntryData = z.strictObject({
  id: z.string(),
  type: z.string(),
  at: z.number().int().describe('Unix ms: the start of the minute the entry aggregates (an admin action: when it happened)'),
  user: z.string().nullable(),
  ip: z.string().nullable(),
  count: z.number().int().min(1),
  firstAt: z.number().int(),
  lastAt: z.number().int(),
  detail: z.record(z.string(), z.unknown()),
});
export type AuditEntryData = z.output<typeof auditEntryData>;

const T0 = 1_767_225_600_000;
const entry = (type: string, detail: Record<string, unknown>, more: Partial<AuditEntryData> = {}): AuditEntryData => ({
  id: 'aud_0mk0x8a00f3a9c1d2e4b5a6c7',
  type,
  at: T0,
  user: 'ann',
  ip: '203.0.113.7',
  count: 1,
  firstAt: T0 + 1_250,
  lastAt: T0 + 1_250,
  detail,
  ...more,
});

interface Described {
  type: string;
  description: string;
  example: AuditEntryData;
}

/** The audit entry types of a tenant, with what each records. */
export const AUDIT_TYPES: readonly Described[] = [
  {
    type: 'auth.failed',
    description:
      'Connection tokens refused whose signature was valid (expired, wrong audience or issuer, bad claims), per minute, user, IP, reason and token fingerprint. Forged tokens name no verified tenant: they are in the system scope.',
    example: entry('auth.failed', { reason: 'expired', fingerprint: '3f9a1c0b7d2e', command: 'connect' }, { count: 3, lastAt: T0 + 41_000 }),
  },
  {
    type: 'limit.connections',
    description: 'Connections refused by the connection limits (scope `user` or `tenant`), per minute, user and IP.',
    example: entry('limit.connections', { scope: 'user' }, { count: 2 }),
  },
  {
    type: 'limit.rate',
    description:
      'Commands refused by a rate limit (`commands`: the connection command rate; else the command refused, e.g. `publish`), per minute, user, IP and limit; `count` is the number of refusals.',
    example: entry('limit.rate', { limit: 'publish' }, { count: 412, lastAt: T0 + 59_100 }),
  },
  {
    type: 'channel.forbidden',
    description: "Channel attempts refused: the token's capabilities (`permission`) or a name reaching past the tenant (`cross_tenant`).",
    example: entry('channel.forbidden', { channel: 'project:secret', action: 'subscribe', reason: 'permission' }),
  },
  {
    type: 'apikey.used',
    description: 'API key requests in the tenant, per minute, key and IP (`admin`: an admin key acting in the tenant).',
    example: entry('apikey.used', { keyId: '8c1f0a2b3d4e', admin: false }, { user: null, count: 57 }),
  },
  {
    type: 'apikey.failed',
    description:
      'A tenant key refused: another tenant named (`wrong_tenant`), an admin route (`not_admin`), or a read-only key on a route that changes something (`read_only`). Unknown keys are in the system scope.',
    example: entry('apikey.failed', { reason: 'wrong_tenant', keyId: '8c1f0a2b3d4e' }, { user: null }),
  },
  ...ADMIN_ACTIONS.map((type) => ({
    type,
    description: `Admin action \`${type.slice(6)}\` (one entry each, never aggregated): \`detail.actor\` is the API key id (null: an operator's tool), \`detail.target\` what it acted on.`,
    example: entry(type, { actor: { keyId: '0d9e8f7a6b5c' }, target: type === 'admin.user_disconnected' ? { user: 'bob' } : { id: 'x' } }, { user: null }),
  })),
];

export const AUDIT_EVENTS: EventType[] = AUDIT_TYPES.map((t) =>
  defineEventType({ type: `audit.${t.type}`, description: t.description, data: auditEntryData, example: t.example }),
);

export const AUDIT_TYPE_NAMES = new Set(AUDIT_TYPES.map((t) => t.type));
