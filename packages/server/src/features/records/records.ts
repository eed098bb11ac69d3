import { ErrorCode, type RecordChange, type RecordState, type RecordWriteResult } from '@switchboard/protocol';
import type { Identity } from '../../auth/token-verifier.js';
import type { ResolvedChannel } from '../../core/channels.js';
import type { NodeContext } from '../../core/context.js';
import { can } from '../../core/permissions.js';
import { ReplyError } from '../../errors/reply-error.js';
import { storageCall } from '../../storage/failures.js';
import { type RecordRules, type RecordsConfig, recordRules } from './config.js';
import type { RecordMetrics } from './metrics.js';
import { checkChanges } from './schemas.js';
import type { RecordPage, RecordStore } from './store.js';

/** Who reads or writes: a connection (its permissions are checked on the record's channel) or the backend (identity null). */
export interface RecordActor {
  tenant: string;
  identity: Identity | null;
}

export interface WriteRequest {
  base: number;
  changes: readonly RecordChange[];
  /** The user the write is by (a connection's own user; the backend names one). */
  author: string;
  /** The SDK's writer session; absent for the HTTP API. */
  session?: string | undefined;
  /** As stored: scoped to the user (`user:<sub>:<key>`) or the API (`api:<key>`). */
  idempotencyKey?: string | undefined;
  /** Field → the fencing token of the writer's lock on `field:<name>`: refused (131) unless still current. */
  fencing?: Readonly<Record<string, number>> | undefined;
}

/** What records need of the lock service (`ctx.feature('locks')`): who holds a key, and whether a fencing token is current (131 if not). */
export interface FieldLocks {
  get(tenant: string, channel: string, key: string): Promise<{ key: string; holder: { user: string; client?: string }; fencingToken: number } | null>;
  check(tenant: string, channel: string, key: string, fencingToken: number): Promise<unknown>;
}

/** One field a write is about to change, as `beforeFieldWrite` hooks see it. */
export interface FieldWrite {
  tenant: string;
  channel: string;
  field: string;
  change: RecordChange;
  base: number;
  author: string;
  session: string | null;
  /** The connection that writes; null for the backend. */
  identity: Identity | null;
}

/** Throw a ReplyError to refuse the write (nothing changes), e.g. 130 Locked for a field another user holds. */
export type BeforeFieldWrite = (write: FieldWrite) => void | Promise<void>;

/**
 * The service of the records feature (`ctx.feature<RecordsApi>('records')`, or
 * `server.feature<RecordsApi>('records')` for an embedding app).
 *
 * @example
 * const records = server.feature<RecordsApi>('records');
 * records.beforeFieldWrite(async (w) => { if (await isLocked(w)) throw new ReplyError(ErrorCode.Locked, w.field); });
 */
export interface RecordsApi {
  read(tenant: string, channel: string): Promise<RecordState>;
  write(tenant: string, channel: string, request: WriteRequest): Promise<RecordWriteResult>;
  /**
   * Run `hook` for every field of every write before the write is applied (before its
   * transaction): the extension point for lock enforcement on record fields. Returns the removal.
   */
  beforeFieldWrite(hook: BeforeFieldWrite): () => void;
}

/**
 * Records: every write is checked (namespace, permission, input, hooks), committed in one
 * transaction that decides it by the conflict policies, then published on the record's own
 * channel (`{kind: 'record', …}`) for its subscribers on every node. Shared by the client
 * commands and the HTTP routes.
 */
export class Records implements RecordsApi {
  /** Each namespace's rules (namespace options never change while the node runs); null: records off. */
  readonly #rules = new Map<string, RecordRules | null>();
  readonly #hooks = new Set<BeforeFieldWrite>();

  constructor(
    readonly store: RecordStore,
    readonly node: NodeContext,
    readonly config: RecordsConfig,
    private readonly metrics: RecordMetrics,
    private readonly locks: FieldLocks,
  ) {}

  beforeFieldWrite(hook: BeforeFieldWrite): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }

  /** The rules of a channel's namespace (108 where records are off). */
  rules(ch: ResolvedChannel): RecordRules {
    let rules = this.#rules.get(ch.namespace);
    if (rules === undefined) {
      rules = recordRules(this.config, ch.options['records']);
      this.#rules.set(ch.namespace, rules);
    }
    if (rules === null) throw new ReplyError(ErrorCode.NotAvailable, `records are off in the "${ch.namespace}" namespace`);
    return rules;
  }

  /** A record's channel for this actor: 110 / 102 for bad names, 108 without records, 103 without the permission. */
  channelFor(actor: RecordActor, channel: string, write: boolean): ResolvedChannel {
    const ch = this.node.resolve(actor.tenant, channel);
    this.rules(ch);
    if (actor.identity) {
      if (!can(actor.identity, ch, 'subscribe')) throw new ReplyError(ErrorCode.PermissionDenied, `needs the subscribe permission on ${ch.channel}`);
      if (write && !can(actor.identity, ch, 'publish')) throw new ReplyError(ErrorCode.PermissionDenied, `needs the publish permission on ${ch.channel}`);
    }
    return ch;
  }

  read(tenant: string, channel: string): Promise<RecordState> {
    return this.readAs({ tenant, identity: null }, channel);
  }

  async readAs(actor: RecordActor, channel: string): Promise<RecordState> {
    const ch = this.channelFor(actor, channel, false);
    return this.stateOf(ch);
  }

  /** The record of a resolved channel (also the subscribe snapshot). */
  async stateOf(ch: ResolvedChannel): Promise<RecordState> {
    const rules = this.rules(ch);
    const stored = await this.#store(this.store.read(ch.tenant, ch.channel));
    return { channel: ch.channel, version: stored.version, fields: stored.fields, settings: rules.settings };
  }

  /** Records of a tenant whose channel starts with `prefix`, a page after `cursor`. */
  list(tenant: string, prefix: string, cursor: string | undefined, limit: number): Promise<RecordPage> {
    return this.#store(this.store.list(tenant, prefix, cursor, limit));
  }

  write(tenant: string, channel: string, request: WriteRequest): Promise<RecordWriteResult> {
    return this.writeAs({ tenant, identity: null }, channel, request);
  }

  async writeAs(actor: RecordActor, channel: string, req: WriteRequest): Promise<RecordWriteResult> {
    const ch = this.channelFor(actor, channel, true);
    const rules = this.rules(ch);
    const session = req.session ?? null;
    try {
      checkChanges(req.changes);
      if (req.changes.length > rules.maxFields) throw new ReplyError(ErrorCode.LimitExceeded, `a write changes at most ${rules.maxFields} fields`);
      await this.#checkLocks(ch, rules, req);
      for (const hook of this.#hooks) {
        for (const change of req.changes) {
          await hook({
            tenant: ch.tenant,
            channel: ch.channel,
            field: change.field,
            change,
            base: req.base,
            author: req.author,
            session,
            identity: actor.identity,
          });
        }
      }
    } catch (err) {
      this.metrics.write('refused');
      throw err;
    }
    let committed: Awaited<ReturnType<RecordStore['write']>>;
    try {
      committed = await this.#store(
        this.store.write({
          tenant: ch.tenant,
          channel: ch.channel,
          base: req.base,
          changes: req.changes,
          writer: { author: req.author, session },
          rules,
          idempotencyKey: req.idempotencyKey,
        }),
      );
    } catch (err) {
      this.metrics.write(err instanceof ReplyError && err.code === ErrorCode.RecordConflict.code ? 'conflict' : 'refused');
      throw err;
    }
    if (!committed.push) {
      this.metrics.write('deduplicated');
      return committed.result;
    }
    this.metrics.write('applied');
    this.metrics.overwritten(committed.result.replaced.length);
    try {
      await this.node.publish(ch, JSON.stringify(committed.push));
    } catch (err) {
      this.node.logger.warn({ err, channel: ch.channel }, 'record push failed (stored; subscribers read it again on their next subscribe)');
    }
    return committed.result;
  }

  /**
   * Where the namespace guards fields with locks: a field whose lock (`field:<name>`) another
   * user holds is refused (130, `data.holder`), and a fencing token given for a field must be
   * its lock's current grant (131). Checked before the transaction: the fencing token is
   * what makes a write that races a release safe.
   */
  async #checkLocks(ch: ResolvedChannel, rules: RecordRules, req: WriteRequest): Promise<void> {
    for (const [field, token] of Object.entries(req.fencing ?? {})) {
      if (!req.changes.some((c) => c.field === field)) throw new ReplyError(ErrorCode.BadRequest, `fencing: the write does not change "${field}"`);
      await this.locks.check(ch.tenant, ch.channel, `field:${field}`, token);
    }
    if (!rules.lockedFields) return;
    const held = await Promise.all(req.changes.map((c) => this.locks.get(ch.tenant, ch.channel, `field:${c.field}`)));
    for (const lock of held) {
      if (lock === null || lock.holder.user === req.author) continue;
      const err = new ReplyError(ErrorCode.Locked, `${lock.key} is held by ${lock.holder.user}`);
      err.data = { key: lock.key, holder: lock.holder };
      throw err;
    }
  }

  #store<T>(op: Promise<T>): Promise<T> {
    return storageCall(op, (err) => this.node.logger.warn({ err }, 'records storage unavailable'));
  }
}
