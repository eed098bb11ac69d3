import { ErrorCode } from '@switchboard/protocol';
import type { Config } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { deviceOf, type PresenceEntry } from '../engine/presence-store.js';
import { ReplyError } from '../errors/reply-error.js';
import type { ResolvedChannel } from './channels.js';
import type { FeaturePresence, FeaturePresenceMember, LocalFeaturePresence, PresenceClient } from './context.js';
import type { HookPayloads } from './modules.js';
import type { TenantQuotas } from './tenant-quotas.js';

export type { FeaturePresence, FeaturePresenceMember, LocalFeaturePresence } from './context.js';

export interface FeaturePresenceHost {
  readonly engine: Pick<Engine, 'presence' | 'broker'>;
  now(): number;
  readonly quotas: Pick<TenantQuotas, 'presenceMembers'>;
  readonly limits: Pick<Config['limits'], 'maxPresenceStateBytes'>;
  /** Run an engine operation, its failure as the temporary 116. */
  engineCall<T>(where: string, op: () => Promise<T>): Promise<T>;
  /** Tell the modules (a notice hook: called now, never waited for). */
  notice<K extends PresenceHook>(name: K, payload: HookPayloads[K]): void;
}

type PresenceHook = 'onPresenceJoin' | 'onPresenceUpdate' | 'onPresenceLeave';

/**
 * Presence entries for connections that are not kernel sessions (a feature's own WebSocket
 * endpoint: the documents feature's provider sockets). Each entry is the same kind of
 * entry a session makes: one device of its user, counted against the member quota, removed
 * with its node when that node dies, and announced with join / update / leave events where
 * the namespace has them. One entry's writes are applied in the order they were made.
 *
 * The modules hear of them through the same presence hooks as of sessions (`client.session`
 * null): `onPresenceJoin` once the entry is written and announced, `onPresenceUpdate` for
 * each later state, and `onPresenceLeave` once when it leaves (even when the engine fails
 * to remove it: its TTL does then), in that order.
 */
export class FeaturePresences {
  /** The entries the hooks announced and that have not left, by `<client>|<channel key>`. */
  readonly #local = new Map<string, LocalFeaturePresence>();

  constructor(private readonly host: FeaturePresenceHost) {}

  /** This node's entries of a tenant that `onPresenceJoin` announced and `onPresenceLeave` did not yet. */
  local(tenant: string): LocalFeaturePresence[] {
    return [...this.#local.values()].filter((e) => e.channel.tenant === tenant);
  }

  /** Enter `ch`'s presence: NotAvailable where the namespace has presence off, LimitExceeded when the channel is full, Unavailable while the engine is away. */
  async join(ch: ResolvedChannel, member: FeaturePresenceMember): Promise<FeaturePresence> {
    if (!ch.options.presence) throw new ReplyError(ErrorCode.NotAvailable, 'presence is disabled in this namespace');
    this.#checkState(member.state);
    const since = this.host.now();
    const entry = (state: string | null): PresenceEntry => {
      const e: PresenceEntry = { client: member.client, user: member.user, status: 'online', state, since };
      if (member.info !== undefined) e.info = JSON.stringify(member.info);
      return e;
    };
    const { engine } = this.host;
    const first = entry(member.state);
    const result = await this.host.engineCall('presence', () => engine.presence.set(ch.key, first, this.host.quotas.presenceMembers(ch.tenant)));
    if (result === 'full') throw new ReplyError(ErrorCode.LimitExceeded, 'presence members');
    try {
      await this.#announce(ch, result === 'new' ? 'join' : 'update', first);
    } catch (err) {
      // The caller gets no handle to leave with: the entry goes now (by its TTL if this fails too).
      await engine.presence.remove(ch.key, member.client).catch(() => {});
      throw err;
    }
    const client: PresenceClient = { id: member.client, identity: { tenant: ch.tenant, user: member.user }, connectedAt: since, session: null };
    const key = `${member.client}|${ch.key}`;
    this.#local.set(key, { client, channel: ch, state: member.state });
    this.host.notice('onPresenceJoin', { client, channel: ch, state: member.state });
    let chain: Promise<void> = Promise.resolve();
    let left = false;
    const serial = (op: () => Promise<void>): Promise<void> => {
      const next = chain.then(op);
      chain = next.catch(() => {});
      return next;
    };
    return {
      update: (state) => {
        this.#checkState(state);
        return serial(async () => {
          if (left) return;
          const e = entry(state);
          await this.host.engineCall('presence', () => engine.presence.set(ch.key, e));
          this.#local.set(key, { client, channel: ch, state });
          this.host.notice('onPresenceUpdate', { client, channel: ch, state });
          await this.#announce(ch, 'update', e);
        });
      },
      leave: () =>
        serial(async () => {
          if (left) return;
          left = true;
          this.#local.delete(key);
          this.host.notice('onPresenceLeave', { client, channel: ch });
          const removed = await this.host.engineCall('presence', () => engine.presence.remove(ch.key, member.client));
          if (removed) await this.#announce(ch, 'leave', removed);
        }),
    };
  }

  #checkState(state: string | null): void {
    if (state !== null && Buffer.byteLength(state) > this.host.limits.maxPresenceStateBytes) throw new ReplyError(ErrorCode.PayloadTooLarge, 'presence state');
  }

  async #announce(ch: ResolvedChannel, kind: 'join' | 'update' | 'leave', e: PresenceEntry): Promise<void> {
    if (!ch.options.joinLeave) return;
    await this.host.engineCall('presence', () => this.host.engine.broker.publishEvent(ch.key, { kind, user: e.user, device: deviceOf(e) }));
  }
}
