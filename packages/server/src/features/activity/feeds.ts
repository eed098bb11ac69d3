import { ErrorCode } from '@switchboard/protocol';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import { storageCall } from '../../storage/failures.js';
import type { ActivityConfig } from './config.js';
import { type ActivityInsights, checkRange, type InsightsQuery } from './insights.js';
import { ACTIVITY_NAMESPACE, type Activity, type ActivityInput } from './model.js';
import type { ActivityPage, ActivityQuery, ActivityStore, RecordResult } from './store.js';

/** What subscribers of `activity:{scope}` receive. */
export interface ActivityPush {
  kind: 'activity';
  activity: Activity;
}

/**
 * Activity feeds: record (write, then publish to the live channel `activity:{scope}`) and
 * query. A scope is a channel name of a declared namespace other than `activity` itself.
 */
export class ActivityFeeds {
  #node: NodeContext | null = null;
  #config: ActivityConfig | null = null;

  constructor(readonly store: ActivityStore) {}

  attach(node: NodeContext, config: ActivityConfig): void {
    this.#node = node;
    this.#config = config;
  }

  get #started(): NodeContext {
    if (!this.#node) throw new ReplyError(ErrorCode.Unavailable, 'activity feeds are starting');
    return this.#node;
  }

  /** The `activity` config section. */
  get config(): ActivityConfig {
    if (!this.#config) throw new ReplyError(ErrorCode.Unavailable, 'activity feeds are starting');
    return this.#config;
  }

  /** The scope as a channel of the tenant (422 for an invalid name or undeclared namespace). */
  resolveScope(tenant: string, scope: string): ResolvedChannel {
    const ch = this.#started.resolve(tenant, scope);
    if (ch.namespace === ACTIVITY_NAMESPACE) throw new ReplyError(ErrorCode.InvalidChannel, `a scope cannot be in the "${ACTIVITY_NAMESPACE}" namespace`);
    return ch;
  }

  /** Whether this identity may read the feed of a scope: exactly who may subscribe to the scope. */
  mayRead(identity: Identity, scope: ResolvedChannel): boolean {
    return can(identity, scope, 'subscribe');
  }

  async record(tenant: string, input: ActivityInput, idempotencyKey?: string): Promise<RecordResult> {
    const node = this.#started;
    const cfg = this.config;
    this.resolveScope(tenant, input.scope);
    if (input.data !== undefined && Buffer.byteLength(JSON.stringify(input.data)) > cfg.maxDataBytes) {
      throw new ReplyError(ErrorCode.PayloadTooLarge, `data larger than ${cfg.maxDataBytes} bytes`);
    }
    await this.#store(node, node.quotas.reserveRows(tenant, 'activity', 1));
    let result: RecordResult;
    try {
      result = await this.#store(node, this.store.record({ tenant, input, groupWindow: cfg.groupWindow, idempotencyKey }));
    } catch (err) {
      node.quotas.adjustRows(tenant, 'activity', -1);
      throw err;
    }
    if (result.merged || result.deduplicated) node.quotas.adjustRows(tenant, 'activity', -1);
    if (!result.deduplicated) await this.#publish(node, tenant, result.activity);
    return result;
  }

  list(tenant: string, query: Omit<ActivityQuery, 'limit'> & { limit?: number | undefined }): Promise<ActivityPage> {
    const max = this.config.pageSize;
    if (query.scope !== undefined) this.resolveScope(tenant, query.scope);
    return this.#store(this.#started, this.store.list(tenant, { ...query, limit: Math.min(query.limit ?? Math.min(50, max), max) }));
  }

  /** Counts by verb, actor and time bucket (400 / 107 for a reversed or too wide range). */
  insights(tenant: string, query: InsightsQuery): Promise<ActivityInsights> {
    checkRange(query);
    if (query.scope !== undefined) this.resolveScope(tenant, query.scope);
    return this.#store(this.#started, this.store.insights(tenant, query));
  }

  /** A store call; an unreachable or busy store answers Unavailable (retry), not Internal. */
  #store<T>(node: NodeContext, op: Promise<T>): Promise<T> {
    return storageCall(op, (err) => node.logger.warn({ err }, 'activity storage unavailable'));
  }

  async #publish(node: NodeContext, tenant: string, activity: Activity): Promise<void> {
    let ch: ResolvedChannel;
    try {
      ch = node.resolve(tenant, `${ACTIVITY_NAMESPACE}:${activity.scope}`);
    } catch {
      return; // no `activity` namespace, or the live channel name would be too long: stored, not pushed
    }
    const push: ActivityPush = { kind: 'activity', activity };
    try {
      await node.publish(ch, JSON.stringify(push));
    } catch (err) {
      node.logger.warn({ err, channel: ch.channel }, 'activity push failed (stored; readers get it from the list)');
    }
  }
}
