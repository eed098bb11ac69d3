import { APPLICATION_ERROR_MAX, APPLICATION_ERROR_MIN, TENANT_RE, USER_RE } from '@switchboard/protocol';
import { z } from 'zod';
import { CAPABILITY_ACTIONS } from '../../auth/capabilities.js';

/**
 * The JSON the server POSTs to the app's backend for each hook, and the answers it accepts.
 * The same schemas validate the answers and produce the JSON Schema in docs/backend-hooks.md
 * (a test keeps the two equal), so what is documented is what is checked.
 */

export const HOOK_KINDS = ['connect', 'refresh', 'subscribe', 'publish', 'rpc'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

const clientId = z.string().describe('the connection id (as in the connect reply)');
const user = z.string().regex(USER_RE).describe('user id');
const tenant = z.string().regex(TENANT_RE).describe('tenant id');
const session = { client: clientId, user, tenant };
const channel = z.string().describe('channel name as the client wrote it: `namespace:name`');
const anyJson = z.unknown().describe('any JSON value');
const capabilities = z
  .record(z.string().min(1).max(512), z.array(z.enum(CAPABILITY_ACTIONS)))
  .describe('capabilities, as in a token: channel pattern (`*` any run of characters) → actions');
const expires = z.number().int().positive().describe('when the connection expires, Unix ms (absent: never)');

/** What the server sends, per hook. */
export const hookRequests = {
  connect: z
    .strictObject({
      client: clientId,
      ip: z.string().describe("the peer's address"),
      origin: z.string().optional().describe('the Origin header, when sent'),
      userAgent: z.string().optional().describe('the User-Agent header, when sent'),
    })
    .meta({ title: 'connect request' }),
  refresh: z.strictObject({ ...session, info: anyJson.optional() }).meta({ title: 'refresh request' }),
  subscribe: z.strictObject({ ...session, channel }).meta({ title: 'subscribe request' }),
  publish: z.strictObject({ ...session, channel, data: anyJson }).meta({ title: 'publish request' }),
  rpc: z.strictObject({ ...session, method: z.string().describe('the method the client named'), data: anyJson }).meta({ title: 'rpc request' }),
} as const;

/** What each hook's `result` may hold. Unknown fields are ignored. */
export const hookResults = {
  connect: z.object({ user, tenant, caps: capabilities.optional(), info: anyJson.optional(), expires: expires.optional() }),
  refresh: z.object({
    caps: capabilities.optional().describe('new capabilities (absent: unchanged)'),
    info: anyJson.optional().describe('new info (absent: unchanged)'),
    expires: expires.optional(),
  }),
  subscribe: z.object({ info: anyJson.optional().describe("the subscription's info, sent to the client in the subscribe reply") }),
  publish: z.object({ data: anyJson.optional().describe('publish this instead of what the client sent (absent: as sent)') }),
  rpc: z.object({ data: anyJson.optional().describe("the answer to the client's call (absent: null)") }),
} as const;

/** The backend's refusal: an application code (400–1999) or the hook's default refusal. */
export const hookError = z.object({
  code: z.number().int().min(APPLICATION_ERROR_MIN).max(APPLICATION_ERROR_MAX).optional().describe('application error code (absent: the hook’s default)'),
  message: z.string().max(200).optional(),
  temporary: z.boolean().optional().describe('retrying later may succeed (default false)'),
});
export type HookError = z.output<typeof hookError>;

/** An answer: `{ "result": … }` to go ahead, `{ "error": … }` to refuse. */
const answer = <K extends HookKind>(kind: K) =>
  z.union([z.object({ result: hookResults[kind] }), z.object({ error: hookError })]).meta({ title: `${kind} response` });

export const hookResponses = {
  connect: answer('connect'),
  refresh: answer('refresh'),
  subscribe: answer('subscribe'),
  publish: answer('publish'),
  rpc: answer('rpc'),
} as const;

export type HookResult<K extends HookKind> = z.output<(typeof hookResults)[K]>;
export type HookResponse<K extends HookKind> = { result: HookResult<K> } | { error: HookError };

/** The JSON Schemas of every request and response, by title (what docs/backend-hooks.md shows). */
export function backendHookSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kind of HOOK_KINDS) {
    out[`${kind} request`] = jsonSchema(hookRequests[kind], 'output');
    out[`${kind} response`] = jsonSchema(hookResponses[kind], 'input');
  }
  return out;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): unknown {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
