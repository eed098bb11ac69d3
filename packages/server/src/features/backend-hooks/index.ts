import { ErrorCode, type ErrorCodeInfo } from '@switchboard/protocol';
import { z } from 'zod';
import { parseCapabilities } from '../../auth/capabilities.js';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import { defineCommand } from '../../core/command.js';
import type { SessionContext } from '../../core/context.js';
import { ReplyError } from '../../errors/reply-error.js';
import { defineFeature, type FeatureModule } from '../manifest.js';
import { BackendCaller } from './caller.js';
import { type BackendHooksConfig, backendHooksConfig } from './config.js';
import { backendHookMetrics } from './metrics.js';
import type { HookError, HookKind, HookResponse, HookResult } from './wire.js';

/**
 * Backend hooks: the server asks the app's backend, over HTTP with JSON, before it accepts a
 * connection without a token (`connect`), extends one (`refresh`), subscribes (`subscribe`)
 * or publishes (`publish`), and forwards the client's `rpc` calls. See docs/backend-hooks.md.
 */
export function backendHooksFeature(): FeatureModule<BackendHooksConfig, BackendCaller> {
  let running: { config: BackendHooksConfig; caller: BackendCaller; now: () => number } | null = null;
  /** Identities the backend gave (at connect or refresh): only these are extended by it; a token a client refreshed to is not. */
  const issued = new WeakSet<Identity>();

  /** Call the hook's backend for this connection; null when the hook is off (or not started). */
  const ask = async <K extends HookKind>(hook: K, url: string | undefined, client: SessionContext, body: object | string) => {
    if (!running || !url) return null;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return running.caller.call(hook, url, text, client.meta);
  };
  const urlFor = (hook: 'subscribeUrl' | 'publishUrl', ch: ResolvedChannel) => running?.config.namespaces[ch.namespace]?.[hook] ?? running?.config[hook];
  const session = (client: SessionContext) => {
    const id = client.identity as Identity;
    return { client: client.id, user: id.user, tenant: id.tenant };
  };

  return defineFeature({
    name: 'backendHooks',
    config: { schema: backendHooksConfig, description: 'backend hooks: the app backend asked over HTTP' },
    commands: [
      defineCommand({
        method: 'rpc',
        pipelined: true,
        params: z.strictObject({ method: z.string().min(1).max(128), data: z.unknown().optional() }),
        async handler({ client }, p) {
          const body = JSON.stringify({ ...session(client), method: p.method, data: p.data ?? null });
          const answer = await ask('rpc', running?.config.rpcUrl, client, body);
          if (!answer) throw new ReplyError(ErrorCode.NotAvailable, 'rpc is not configured');
          return { data: accepted(answer, ErrorCode.PermissionDenied).data ?? null };
        },
      }),
    ],
    connectionHeaders: (config) => config.headers,
    hooks: {
      async onAuthenticate({ client, identity }) {
        if (identity) return undefined;
        const { ip, origin, userAgent } = client.meta;
        const answer = await ask('connect', running?.config.connectUrl, client, { client: client.id, ip, origin, userAgent });
        if (!answer) return undefined;
        const result = accepted(answer, ErrorCode.Unauthorized);
        const auth = identityOf(result, running?.now() ?? Date.now());
        issued.add(auth);
        return { identity: auth };
      },
      async onIdentityExpiry({ client, identity }) {
        if (!issued.has(identity)) return undefined;
        const answer = await ask('refresh', running?.config.refreshUrl, client, { ...session(client), info: identity.info });
        if (!answer) return undefined;
        const next = renewed(identity, accepted(answer, ErrorCode.TokenExpired));
        issued.add(next);
        return { identity: next };
      },
      async beforeSubscribe({ client, channel }) {
        const answer = await ask('subscribe', urlFor('subscribeUrl', channel), client, { ...session(client), channel: channel.channel });
        if (!answer) return undefined;
        const { info } = accepted(answer, ErrorCode.PermissionDenied);
        return info === undefined ? undefined : { info };
      },
      async beforePublish({ client, channel, data }) {
        if (!client) return undefined;
        // The data is JSON text already: spliced in, not parsed again.
        const head = JSON.stringify({ ...session(client), channel: channel.channel });
        const answer = await ask('publish', urlFor('publishUrl', channel), client, `${head.slice(0, -1)},"data":${data}}`);
        if (!answer) return undefined;
        const result = accepted(answer, ErrorCode.PermissionDenied);
        return result.data === undefined ? undefined : { data: JSON.stringify(result.data) };
      },
    },
    start(ctx) {
      let caller: BackendCaller | null = null;
      const metrics = backendHookMetrics(ctx.node.metricsRegistry, () => caller?.inFlight ?? 0);
      caller = new BackendCaller(ctx.config, metrics, ctx.logger);
      running = { config: ctx.config, caller, now: () => ctx.node.now() };
      return caller;
    },
    stop() {
      running?.caller.close();
      running = null;
    },
  });
}

/** The answer's result, or its refusal as a ReplyError (`fallback` when it names no code of its own). */
function accepted<K extends HookKind>(answer: HookResponse<K>, fallback: ErrorCodeInfo): HookResult<K> {
  if ('result' in answer) return answer.result;
  throw refusal(answer.error, fallback);
}

function refusal(error: HookError, fallback: ErrorCodeInfo): ReplyError {
  const message = error.message ?? 'refused by the backend';
  if (error.code === undefined) return new ReplyError(fallback, message);
  return new ReplyError({ code: error.code, message, temporary: error.temporary ?? false });
}

function capabilitiesOf(caps: Record<string, string[]> | undefined, hook: string) {
  const rules = parseCapabilities(caps ?? {});
  if (!rules) throw new ReplyError(ErrorCode.BackendInvalidResponse, `${hook}: caps`);
  return rules;
}

function identityOf(r: HookResult<'connect'>, now: number): Identity {
  if (r.expires !== undefined && r.expires <= now) throw new ReplyError(ErrorCode.BackendInvalidResponse, 'connect: expires is in the past');
  const identity: Identity = {
    user: r.user,
    tenant: r.tenant,
    expires: r.expires ?? Number.POSITIVE_INFINITY,
    capabilities: capabilitiesOf(r.caps, 'connect'),
  };
  if (r.info !== undefined) identity.info = r.info;
  return identity;
}

function renewed(current: Identity, r: HookResult<'refresh'>): Identity {
  const identity: Identity = {
    ...current,
    expires: r.expires ?? Number.POSITIVE_INFINITY,
    capabilities: r.caps === undefined ? current.capabilities : capabilitiesOf(r.caps, 'refresh'),
  };
  if (r.info !== undefined) identity.info = r.info;
  return identity;
}
