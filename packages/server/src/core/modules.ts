import type { Identity } from '../auth/token-verifier.js';
import { createError } from '../errors/sb-error.js';
import type { ResolvedChannel } from './channels.js';
import type { CommandDefinition } from './command.js';
import type { SessionContext } from './context.js';

/** Why a subscription ended: the client's `unsubscribe`, the server (API, revoked permission, lost stream), or the connection closing. */
export type UnsubscribeReason = 'client' | 'server' | 'disconnect';

/**
 * Payloads of the hooks, one type per hook. Throw a ReplyError from `onConnect` or a
 * `before` hook to refuse the action; the other hooks are notices of what happened (a throw
 * is logged), each called once per event, in registration order.
 */
export interface HookPayloads {
  /** A token was verified; throw to refuse the connection. */
  onConnect: { client: SessionContext; identity: Identity };
  /** A connection that had connected closed, whichever side closed it. */
  onDisconnect: { client: SessionContext };
  /** A connected connection ended without a close handshake (network cut, TCP reset, killed peer); before `onDisconnect`. */
  onConnectionLost: { client: SessionContext };
  /** Throw to refuse the subscription. */
  beforeSubscribe: { client: SessionContext; channel: ResolvedChannel };
  /** The subscribe reply went out; `recovered` answers a recovery request (null: none asked). */
  afterSubscribe: { client: SessionContext; channel: ResolvedChannel; recovered: boolean | null };
  /** A subscription that `afterSubscribe` announced ended. */
  onUnsubscribe: { client: SessionContext; channel: ResolvedChannel; reason: UnsubscribeReason };
  /** The connection entered presence in a channel; `state` is its JSON text (null: none). */
  onPresenceJoin: { client: SessionContext; channel: ResolvedChannel; state: string | null };
  /** The connection's presence entry that `onPresenceJoin` announced was removed (leave, unsubscribe or close). */
  onPresenceLeave: { client: SessionContext; channel: ResolvedChannel };
  /** Throw to refuse the publication. */
  beforePublish: { channel: ResolvedChannel; data: string; client: SessionContext | null };
  afterPublish: { channel: ResolvedChannel; data: string; offset: number; epoch: string; client: SessionContext | null };
}
export type HookName = keyof HookPayloads;
export const HOOK_NAMES: readonly HookName[] = [
  'onConnect',
  'onDisconnect',
  'onConnectionLost',
  'beforeSubscribe',
  'afterSubscribe',
  'onUnsubscribe',
  'onPresenceJoin',
  'onPresenceLeave',
  'beforePublish',
  'afterPublish',
];

export type Hooks = { [K in HookName]?: (payload: HookPayloads[K]) => void | Promise<void> };

/**
 * What core sees of a feature: its name, dependencies, commands and hooks. The whole
 * manifest (config, migrations, routes, service) is `FeatureModule` in features/manifest.ts.
 * Registration fails on a missing dependency, an unknown hook name or a command that
 * already exists.
 */
export interface ModuleParts {
  name: string;
  dependsOn?: readonly string[];
  commands?: readonly CommandDefinition[];
  hooks?: Hooks;
}

/** Features in registration order, and their hooks by name. */
export class ModuleRegistry {
  readonly features: ModuleParts[] = [];
  readonly #hooks = new Map<HookName, Array<(payload: never) => void | Promise<void>>>();

  register(feature: ModuleParts, commands: { has(method: string): boolean; set(method: string, command: CommandDefinition): unknown }): void {
    if (this.features.some((f) => f.name === feature.name)) throw createError('SB_ERR_FEATURE_DUPLICATE', `feature "${feature.name}" registered twice`);
    for (const dep of feature.dependsOn ?? []) {
      if (!this.features.some((f) => f.name === dep))
        throw createError('SB_ERR_FEATURE_DEPENDENCY', `feature "${feature.name}" needs "${dep}", registered before it`);
    }
    for (const name of Object.keys(feature.hooks ?? {})) {
      if (!HOOK_NAMES.includes(name as HookName)) throw createError('SB_ERR_FEATURE_HOOK', `feature "${feature.name}" has unknown hook "${name}"`);
    }
    const own = new Set<string>();
    for (const cmd of feature.commands ?? []) {
      if (own.has(cmd.method)) throw createError('SB_ERR_FEATURE_COMMAND', `command "${cmd.method}" is listed twice by feature "${feature.name}"`);
      own.add(cmd.method);
      if (commands.has(cmd.method)) throw createError('SB_ERR_FEATURE_COMMAND', `command "${cmd.method}" of feature "${feature.name}" already exists`);
    }
    for (const cmd of feature.commands ?? []) commands.set(cmd.method, cmd);
    for (const [name, fn] of Object.entries(feature.hooks ?? {})) {
      const list = this.#hooks.get(name as HookName) ?? [];
      list.push(fn as (payload: never) => void | Promise<void>);
      this.#hooks.set(name as HookName, list);
    }
    this.features.push(feature);
  }

  /** Run a hook's handlers in registration order; the first throw stops the chain. */
  async run<K extends HookName>(name: K, payload: HookPayloads[K]): Promise<void> {
    const list = this.#hooks.get(name);
    if (!list) return;
    for (const fn of list) await (fn as (p: HookPayloads[K]) => void | Promise<void>)(payload);
  }

  has(name: HookName): boolean {
    return (this.#hooks.get(name)?.length ?? 0) > 0;
  }
}
