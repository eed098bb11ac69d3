import {
  ErrorCode,
  type RecordChange,
  type RecordConflictData,
  type RecordConflictField,
  type RecordField,
  type RecordFieldType,
  type RecordPolicy,
  type RecordPush,
  type RecordSettings,
  type RecordState,
  type RecordWriteResult,
} from '@switchboard/protocol';
import { Emitter } from './emitter.js';
import { SwitchboardError } from './errors.js';
import type { FeatureHost } from './feature-module.js';
import { OfflineWrites } from './offline-writes.js';

export type {
  RecordChange,
  RecordConflictData,
  RecordConflictField,
  RecordField,
  RecordFieldType,
  RecordPolicy,
  RecordSettings,
  RecordState,
  RecordWriteResult,
} from '@switchboard/protocol';

/**
 * Records: plain-value fields of a channel (`form:42`) with a version each, written on the
 * version they were made on and decided per field by its policy (`lww`, `merge`, `manual`).
 * Server side and semantics: docs/records.md.
 */

/** What records need from the client. */
export type RecordsHost = Pick<FeatureHost, 'call' | 'subscribe' | 'session' | 'createId' | 'on'>;

/**
 * The records of a client (one per client); `open(channel)` gives one record.
 *
 * @example
 * import { records } from '@switchboard/client/records';
 * const form = records(client).open('form:42');
 * await form.ready;
 * await form.set('email', 'ann@example.com');
 */
export function records(client: FeatureHost): Records {
  return client.use({ key: 'records', create: (host) => new Records(host) });
}

/** Opens records: one handle per channel, made on first use. */
export class Records {
  readonly #host: RecordsHost;
  readonly #open = new Map<string, LiveRecord>();

  constructor(host: RecordsHost) {
    this.#host = host;
  }

  /**
   * The record of `channel`: subscribes to it (needs `subscribe`; writing needs `publish`) and
   * keeps its fields current. The same handle on every call.
   *
   * @example
   * const node = records(client).open('form:node-7');
   * node.on('change', () => render(node.values()));
   */
  open(channel: string): LiveRecord {
    let record = this.#open.get(channel);
    if (!record) {
      record = new LiveRecord(this.#host, channel);
      this.#open.set(channel, record);
    }
    return record;
  }
}

/** Fields that changed, with the record version and the author of the write (or of the read that brought them). */
export interface RecordChangeEvent {
  fields: string[];
  version: number;
  author: string | null;
}

/** A value this client wrote was replaced by another writer's `lww` write that had not seen it. */
export interface RecordOverwrittenEvent {
  field: string;
  /** The key of an object value, when a patch replaced one key. */
  key?: string;
  /** The winning value (of the key, for a key). */
  value: unknown;
  /** Who won, and the record version of the winning write. */
  author: string;
  version: number;
  /** The version of the write of yours that was replaced. */
  replacedVersion: number;
}

/** A write of this client was refused (error 134): nothing of it applied; the fields' current values are here (and in the record). */
export interface RecordConflictEvent {
  changes: RecordChange[];
  base: number;
  conflicts: RecordConflictField[];
  version: number;
}

export interface RecordEvents {
  change: RecordChangeEvent;
  overwritten: RecordOverwrittenEvent;
  conflict: RecordConflictEvent;
}

class RecordEmitter extends Emitter<RecordEvents> {
  fire<K extends keyof RecordEvents>(event: K, payload: RecordEvents[K]): void {
    this.emit(event, payload);
  }
}

function isPush(data: unknown): data is RecordPush {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'record';
}

/** Versions held above a missing one before the record is read again. */
const MAX_UNSEEN = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function newSession(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID ? c.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * One record, kept current from its channel: the subscribe reply's snapshot, then every
 * write's push (a field is replaced only by a newer version of it, so a late or repeated push
 * changes nothing). Writes carry the record version known when they were made (`version`),
 * an idempotency key and this handle's session; made offline, they wait and are sent on
 * reconnect with that same base, so the server decides them by the same policy, once.
 *
 * @example
 * const form = records(client).open('form:42');
 * form.on('conflict', (e) => showConflict(e.conflicts));
 * form.on('overwritten', (e) => toast(`${e.author} changed ${e.field}`));
 * await form.set('title', 'Quarterly report');
 */
export class LiveRecord {
  readonly #host: RecordsHost;
  readonly #writes: OfflineWrites;
  readonly #events = new RecordEmitter();
  readonly #fields = new Map<string, RecordField>();
  readonly #session = newSession();
  /** Every version up to this one is reflected here: the base of the next write. */
  #version = 0;
  /** Versions above `#version` seen in pushes and answers (they may arrive out of order from several nodes). */
  readonly #seen = new Set<number>();
  #rereading = false;
  #settings: RecordSettings | null = null;
  #loaded: () => void = () => {};
  /** Resolves once the record was read (the first subscribe reply, or a read). */
  readonly ready: Promise<void>;

  constructor(
    host: RecordsHost,
    readonly channel: string,
  ) {
    this.#host = host;
    this.#writes = new OfflineWrites(host);
    this.ready = new Promise((resolve) => {
      this.#loaded = resolve;
    });
    const sub = host.subscribe(channel, { state: ['records'] });
    sub.on('publication', (p) => {
      if (isPush(p.data)) this.#applyPush(p.data);
    });
    sub.on('subscribed', (e) => {
      const snapshot = e.state?.['records'];
      if (typeof snapshot === 'object' && snapshot !== null) this.#applyState(snapshot as RecordState);
      else void this.refresh().catch(() => {});
    });
    // Subscribed before this view existed: its reply had no snapshot for it.
    if (sub.state === 'subscribed') void this.refresh().catch(() => {});
  }

  /** The record version whose changes, and all before it, are reflected here: the base of the next write. */
  get version(): number {
    return this.#version;
  }

  /** The record's policies and field types (null until first read). */
  get settings(): RecordSettings | null {
    return this.#settings;
  }

  /** The value of a field (undefined when it was never written). */
  get<V = unknown>(field: string): V | undefined {
    return this.#fields.get(field)?.value as V | undefined;
  }

  /** A field with its version, author and time. */
  field(field: string): RecordField | undefined {
    return this.#fields.get(field);
  }

  /** Every field's value. */
  values(): Record<string, unknown> {
    return Object.fromEntries([...this.#fields].map(([k, f]) => [k, f.value]));
  }

  /** The policy of a field (the namespace's, unless the field overrides it). */
  policyOf(field: string): RecordPolicy | undefined {
    return this.#settings ? (this.#settings.fields[field]?.policy ?? this.#settings.policy) : undefined;
  }

  typeOf(field: string): RecordFieldType {
    return this.#settings?.fields[field]?.type ?? 'value';
  }

  /**
   * Follow the record: `change` (fields changed, by anyone), `overwritten` (a value of yours
   * lost to a concurrent `lww` write), `conflict` (a write of yours was refused).
   *
   * @example
   * const off = form.on('change', ({ fields }) => fields.forEach((f) => render(form.get(f))));
   */
  on<K extends keyof RecordEvents>(event: K, listener: (payload: RecordEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Set a field. Where the field merges (`merge` policy), an object value is sent as the keys
   * that differ from the value known here, and a set field's array as its adds and removes, so
   * another writer's concurrent changes to other keys or items are kept.
   *
   * @example
   * await form.set('address', { ...form.get<object>('address'), city: 'Oslo' }); // only `city` is sent
   */
  set(field: string, value: unknown): Promise<RecordWriteResult> {
    return this.write([this.#changeFor(field, value)]);
  }

  /**
   * Set and unset keys of an object field (merged key by key under `merge`).
   *
   * @example
   * await form.patch('address', { city: 'Oslo' }, ['zip']);
   */
  patch(field: string, set: Record<string, unknown>, unset: string[] = []): Promise<RecordWriteResult> {
    return this.write([{ field, op: 'patch', set, ...(unset.length > 0 ? { unset } : {}) }]);
  }

  /** Add items to a set field. @example await form.add('tags', 'urgent'); */
  add(field: string, ...items: unknown[]): Promise<RecordWriteResult> {
    return this.write([{ field, op: 'add', items }]);
  }

  /** Remove items from a set field. @example await form.remove('tags', 'urgent'); */
  remove(field: string, ...items: unknown[]): Promise<RecordWriteResult> {
    return this.write([{ field, op: 'remove', items }]);
  }

  /** Add a delta to a counter field. @example await form.increment('votes', 1); */
  increment(field: string, by = 1): Promise<RecordWriteResult> {
    return this.write([{ field, op: 'increment', by }]);
  }

  /**
   * Several changes in one write on the version known now: all apply or none. Rejects with a
   * SwitchboardError 134 (`data`: RecordConflictData) when a field refuses it — the
   * `conflict` event fires too, and the record already holds the current values.
   *
   * @example
   * await form.write([{ field: 'title', op: 'set', value: 'Q3' }, { field: 'votes', op: 'increment', by: 1 }]);
   */
  async write(changes: RecordChange[]): Promise<RecordWriteResult> {
    const base = this.#version;
    const params = { channel: this.channel, base, changes, session: this.#session, idempotencyKey: this.#host.createId() };
    try {
      const result = await this.#writes.call<RecordWriteResult>('records.write', params);
      this.#applyFields(result.fields, result.version, this.#host.session?.user ?? null);
      return result;
    } catch (err) {
      if (err instanceof SwitchboardError && err.code === ErrorCode.RecordConflict.code) await this.#conflict(changes, base, err.data as RecordConflictData);
      throw err;
    }
  }

  /** Read the record again (a subscribe reply carries it already). */
  async refresh(): Promise<void> {
    this.#applyState(await this.#host.call<RecordState>('records.read', { channel: this.channel }));
  }

  #changeFor(field: string, value: unknown): RecordChange {
    const old = this.#fields.get(field)?.value;
    if (this.policyOf(field) !== 'merge' || old === undefined) return { field, op: 'set', value };
    const type = this.typeOf(field);
    if (type === 'value' && isObject(old) && isObject(value)) {
      const set = Object.fromEntries(Object.entries(value).filter(([k, v]) => !(k in old) || !same(old[k], v)));
      const unset = Object.keys(old).filter((k) => !(k in value));
      if (Object.keys(set).length + unset.length > 0)
        return { field, op: 'patch', ...(Object.keys(set).length > 0 ? { set } : {}), ...(unset.length > 0 ? { unset } : {}) };
    }
    if (type === 'set' && Array.isArray(old) && Array.isArray(value)) {
      const had = new Set(old.map((v) => JSON.stringify(v)));
      const has = new Set(value.map((v) => JSON.stringify(v)));
      const added = value.filter((v) => !had.has(JSON.stringify(v)));
      const removed = old.filter((v) => !has.has(JSON.stringify(v)));
      if (added.length > 0 && removed.length === 0) return { field, op: 'add', items: added };
      if (removed.length > 0 && added.length === 0) return { field, op: 'remove', items: removed };
    }
    return { field, op: 'set', value };
  }

  /** Take the conflicting fields' current values, read the record again (so the next write's base includes them), tell the listeners. */
  async #conflict(changes: RecordChange[], base: number, data: RecordConflictData | undefined): Promise<void> {
    if (!data) return;
    const fields: Record<string, RecordField> = {};
    for (const c of data.conflicts) {
      if (c.key === undefined) fields[c.field] = { value: c.value, version: c.version, author: c.author, updatedAt: 0 };
    }
    this.#applyFields(fields, data.version, null, false);
    await this.refresh().catch(() => {});
    this.#events.fire('conflict', { changes, base, conflicts: data.conflicts, version: data.version });
  }

  #applyState(state: RecordState): void {
    this.#settings = state.settings;
    if (state.version > this.#version) this.#version = state.version;
    this.#applyFields(state.fields, state.version, null);
    this.#loaded();
  }

  #applyPush(push: RecordPush): void {
    this.#applyFields(push.fields, push.version, push.author);
    for (const r of push.replaced) {
      if (r.session !== this.#session) continue;
      const value = push.fields[r.field]?.value;
      this.#events.fire('overwritten', {
        field: r.field,
        ...(r.key !== undefined ? { key: r.key } : {}),
        value: r.key !== undefined && isObject(value) ? value[r.key] : value,
        author: push.author,
        version: push.version,
        replacedVersion: r.version,
      });
    }
  }

  /** Take each field whose version is newer than the one held; fire `change` for those. */
  #applyFields(fields: Record<string, RecordField>, version: number, author: string | null, complete = true): void {
    const changed: string[] = [];
    for (const [name, f] of Object.entries(fields)) {
      const held = this.#fields.get(name);
      if (held && held.version >= f.version) continue;
      this.#fields.set(name, f);
      changed.push(name);
    }
    // `complete`: these are all the changes of `version` (a conflict's fields are not).
    if (complete && version > this.#version) this.#seen.add(version);
    while (this.#seen.delete(this.#version + 1)) this.#version++;
    for (const v of this.#seen) if (v <= this.#version) this.#seen.delete(v);
    // A version that never comes (its push was lost): read the record again, which covers it.
    if (this.#seen.size > MAX_UNSEEN && !this.#rereading) {
      this.#rereading = true;
      void this.refresh()
        .catch(() => {})
        .finally(() => {
          this.#rereading = false;
        });
    }
    if (changed.length > 0) this.#events.fire('change', { fields: changed, version, author });
  }
}
