import type { Identity } from '../auth/token-verifier.js';
import { createError } from '../errors/sb-error.js';
import type { ResolvedChannel } from './channels.js';
import type { CommandDefinition } from './command.js';
import type { PresenceClient, SessionContext } from './context.js';

/** A session as the presence hooks see it (a session in presence has connected, so it has its identity). */
export function presenceClientOf(session: SessionContext): PresenceClient {
  const identity = session.identity;
  return { id: session.id, identity: { tenant: identity?.tenant ?? '', user: identity?.user ?? '' }, connectedAt: session.connectedAt, session };
}

/** Why a subscription ended: the client's `unsubscribe`, the server (API, revoked permission, lost stream), or the connection closing. */
export type UnsubscribeReason = 'client' | 'server' | 'disconnect';

/**
 * Payloads of the hooks, one type per hook. Throw a ReplyError from `onAuthenticate`,
 * `onIdentityExpiry`, `onConnect` or a `before` hook to refuse the action; the other hooks
 * are notices of what happened (a throw is logged), each called once per event, in
 * registration order.
 */
export interface HookPayloads {
  /**
   * A `connect` carries no token: answer `{ identity }` to authenticate the connection
   * (the first identity answered is the one later handlers see); no answer from any
   * handler refuses it like a missing token (101).
   */
  onAuthenticate: { client: SessionContext; identity?: Identity };
  /**
   * The connection's identity expires now: answer `{ identity }` (same user and tenant) to
   * extend it; no answer closes the connection with 3003. Throw a temporary ReplyError to
   * close it with 3002 (the client reconnects), another to close it with 3003.
   */
  onIdentityExpiry: { client: SessionContext; identity: Identity };
  /** A token was verified; throw to refuse the connection. */
  onConnect: { client: SessionContext; identity: Identity };
  /**
   * A connection that had connected closed, whichever side closed it: the WebSocket close
   * `code` and `reason` it ended with (the server's when it closed first; 1006 and `lost` when
   * it ended without a close handshake; 1005 for a close frame without a code), and how long
   * it was open (`durationMs`, from acceptance, on the monotonic clock).
   */
  onDisconnect: { client: SessionContext; code: number; reason: string; lost: boolean; durationMs: number };
  /** A connected connection ended without a close handshake (network cut, TCP reset, killed peer); before `onDisconnect`. */
  onConnectionLost: { client: SessionContext };
  /** Throw to refuse the subscription; answer `{ info }` to give the subscription info (JSON), sent in the reply. */
  beforeSubscribe: { client: SessionContext; channel: ResolvedChannel; info?: unknown };
  /**
   * The subscription joined its channel, the client asked for this feature's state (the
   * subscribe's `state: ["<feature>"]`) and the reply is being built: answer `{ snapshot }`
   * (JSON) to send the feature's state of the channel in the reply, as `state.<feature>`.
   * It runs after the join, so a change made while it reads also reaches the client as a
   * push after the reply. A throw fails the subscribe with 116 Unavailable (temporary).
   */
  onSubscribeSnapshot: { client: SessionContext; channel: ResolvedChannel };
  /** The subscribe reply went out; `recovered` answers a recovery request (null: none asked). */
  afterSubscribe: { client: SessionContext; channel: ResolvedChannel; recovered: boolean | null };
  /** A subscription that `afterSubscribe` announced ended. */
  onUnsubscribe: { client: SessionContext; channel: ResolvedChannel; reason: UnsubscribeReason };
  /** The connection (a session or a feature's connection) entered presence in a channel; `state` is its JSON text (null: none). */
  onPresenceJoin: { client: PresenceClient; channel: ResolvedChannel; state: string | null };
  /** The connection set its presence again (state or status) while its entry stays; `state` is its JSON text (null: none). */
  onPresenceUpdate: { client: PresenceClient; channel: ResolvedChannel; state: string | null };
  /** The connection's presence entry that `onPresenceJoin` announced was removed (leave, unsubscribe, close, a feature's connection gone). */
  onPresenceLeave: { client: PresenceClient; channel: ResolvedChannel };
  /** Throw to refuse the publication; answer `{ data }` (JSON text) to publish that instead. */
  beforePublish: { channel: ResolvedChannel; data: string; client: SessionContext | null };
  afterPublish: { channel: ResolvedChannel; data: string; offset: number; epoch: string; client: SessionContext | null };
}
export type HookName = keyof HookPayloads;
export const HOOK_NAMES: readonly HookName[] = [
  'onAuthenticate',
  'onIdentityExpiry',
  'onConnect',
  'onDisconnect',
  'onConnectionLost',
  'beforeSubscribe',
  'onSubscribeSnapshot',
  'afterSubscribe',
  'onUnsubscribe',
  'onPresenceJoin',
  'onPresenceUpdate',
  'onPresenceLeave',
  'beforePublish',
  'afterPublish',
];

/**
 * What the answering hooks may answer. An answer's fields replace the payload's for the
 * handlers after it, and the node acts on the merged answer; the other hooks answer nothing.
 */
export interface HookAnswers {
  onAuthenticate: { identity: Identity };
  onIdentityExpiry: { identity: Identity };
  beforeSubscribe: { info: unknown };
  onSubscribeSnapshot: { snapshot: unknown };
  beforePublish: { data: string };
}
export type HookAnswer<K extends HookName> = K extends keyof HookAnswers ? Partial<HookAnswers[K]> : never;
// biome-ignore lint/suspicious/noConfusingVoidType: a hook that answers nothing returns nothing
type HookReturn<K extends HookName> = HookAnswer<K> | undefined | void;

export type Hooks = { [K in HookName]?: (payload: HookPayloads[K]) => HookReturn<K> | Promise<HookReturn<K>> };

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
  readonly #hooks = new Map<HookName, Array<(payload: never) => unknown>>();
  /** The feature of each handler in `#hooks`, index for index. */
  readonly #owners = new Map<HookName, string[]>();

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
      list.push(fn as (payload: never) => unknown);
      this.#hooks.set(name as HookName, list);
      this.#owners.set(name as HookName, [...(this.#owners.get(name as HookName) ?? []), feature.name]);
    }
    this.features.push(feature);
  }

  /**
   * Run a hook's handlers in registration order; the first throw stops the chain. Answers
   * (objects returned by answering hooks) are merged, passed on in the payload to the
   * handlers after them, and returned (undefined when none answered).
   */
  async run<K extends HookName>(name: K, payload: HookPayloads[K]): Promise<HookAnswer<K> | undefined> {
    const list = this.#hooks.get(name);
    if (!list) return undefined;
    let current = payload;
    let answer: HookAnswer<K> | undefined;
    for (const fn of list) {
      const result = await (fn as (p: HookPayloads[K]) => unknown)(current);
      if (result === null || typeof result !== 'object') continue;
      answer = { ...answer, ...result } as HookAnswer<K>;
      current = { ...current, ...result };
    }
    return answer;
  }

  /**
   * Call every hook of a notice (one that cannot refuse anything) now, in order, none waiting
   * for another: a feature's slow hook never reorders what the next feature hears. Each
   * failure goes to `onError`.
   */
  notify<K extends HookName>(name: K, payload: HookPayloads[K], onError: (err: unknown) => void): void {
    const list = this.#hooks.get(name);
    if (!list) return;
    for (const fn of list) {
      try {
        Promise.resolve((fn as (p: HookPayloads[K]) => unknown)(payload)).catch(onError);
      } catch (err) {
        onError(err);
      }
    }
  }

  /**
   * The `onSubscribeSnapshot` answers of the features named in `wanted`, keyed by feature
   * name (undefined when none answered): what goes into a subscribe reply's `state`.
   */
  async snapshots(payload: HookPayloads['onSubscribeSnapshot'], wanted: readonly string[]): Promise<Record<string, unknown> | undefined> {
    const list = this.#hooks.get('onSubscribeSnapshot');
    const owners = this.#owners.get('onSubscribeSnapshot');
    if (!list || !owners) return undefined;
    let state: Record<string, unknown> | undefined;
    for (const [i, fn] of list.entries()) {
      if (!wanted.includes(owners[i] as string)) continue;
      const result = (await (fn as (p: typeof payload) => unknown)(payload)) as HookAnswer<'onSubscribeSnapshot'> | undefined;
      if (result?.snapshot === undefined) continue;
      state ??= Object.create(null) as Record<string, unknown>;
      state[owners[i] as string] = result.snapshot;
    }
    return state;
  }

  has(name: HookName): boolean {
    return (this.#hooks.get(name)?.length ?? 0) > 0;
  }
}
