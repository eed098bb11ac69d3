import { DocumentCloseCode, ErrorCode } from '@switchboard/protocol';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { ClientCode } from './codes.js';
import { DocumentCursors } from './document-cursors.js';
import { Emitter } from './emitter.js';
import { SwitchboardError } from './errors.js';
import type { FeatureHost } from './feature-module.js';

/**
 * Collaborative Yjs documents over the SDK's one socket, multiplexed with its channels:
 * `documents(client).open('doc:form-42')` gives the `doc` and `awareness` that editor
 * bindings expect. `yjs` and `y-protocols` are peer dependencies (the app's own copies, never
 * bundled twice). Server side, limits and capabilities: docs/documents.md.
 */

/** `offline`: not connected (edits are kept and merged on reconnect); `syncing`: opening, or changes not yet stored; `synced`: the server stored everything. */
export type DocumentStatus = 'offline' | 'syncing' | 'synced';

export interface OpenDocumentOptions {
  /** The document to sync (default: a new one, destroyed by `close()`). */
  doc?: Y.Doc;
}

export interface DocumentStatusEvent {
  status: DocumentStatus;
  /** Local changes the server has not acknowledged as stored yet. */
  unacknowledged: number;
}

export interface DocumentEvents {
  /**
   * The status or the unacknowledged count changed: a local edit (offline too), an
   * acknowledgement, a disconnect, a reconnect, the sync done, `close()`. Never twice the same.
   */
  status: DocumentStatusEvent;
  /**
   * A change or awareness state the server refused: 130 Locked (another user holds a lock on
   * a part it touched; the server took it back and this copy follows), 103 (read-only),
   * 133, 114. Connection losses are not errors: the change is sent again on reconnect.
   */
  error: { error: SwitchboardError; during: 'open' | 'update' | 'awareness' };
  /**
   * The document is closed for good and so is the handle: the server deleted it (4404), or
   * refused to open it (4403, with the typed `error`: 103 the token may not read it, 108 not a
   * document namespace); `synced` then rejects with that error.
   */
  closed: { code: number; reason: string; error?: SwitchboardError };
}

/** What the SDK marks its own applies with, so they are not sent back. */
const SERVER = Symbol('switchboard-server');
/** The server closed the document to be opened again (an update broke it; it reloads from its store). */
const RESET = DocumentCloseCode.Reset.code;

const toBase64 = (bytes: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
/** An update that holds nothing: no structs, no deletions. */
const isEmptyUpdate = (u: Uint8Array) => u.length <= 2 && u.every((b) => b === 0);

/**
 * The documents of one client (one instance per client).
 *
 * @example
 * import { documents } from '@switchboard/client/documents';
 * const form = documents(client).open('doc:form-42');
 * await form.synced;
 * form.doc.getText('body').insert(0, 'Hello');
 */
export function documents(client: FeatureHost): Documents {
  return client.use({ key: 'documents', create: (host) => new Documents(host) });
}

export type { Cursor, CursorEntry, CursorsEvents, DocumentCursors } from './document-cursors.js';

export class Documents {
  readonly #open = new Map<string, DocumentHandle>();

  constructor(private readonly host: FeatureHost) {
    host.onPush('documents', (event, data) => {
      const d = data as { name?: unknown };
      if (typeof d?.name === 'string') this.#open.get(d.name)?.handlePush(event, data as Record<string, unknown>);
    });
    host.on('connected', () => {
      for (const h of this.#open.values()) void h.resync();
    });
    // Any state but connected (a drop that reconnects, or a stop) means the server has no document for this client.
    host.on('state', (e) => {
      if (e.state !== 'connected') for (const h of this.#open.values()) h.offline();
    });
  }

  /**
   * Open a document (the same handle while it is open): it syncs now if connected, else on
   * connect, and again after every reconnect, merging what was edited offline.
   *
   * @example
   * const { doc, awareness } = documents(client).open('doc:form-42', { doc: ydoc });
   */
  open(name: string, options: OpenDocumentOptions = {}): DocumentHandle {
    const existing = this.#open.get(name);
    if (existing) return existing;
    const handle = new DocumentHandle(this.host, name, options, () => this.#open.delete(name));
    this.#open.set(name, handle);
    if (this.host.session !== null) void handle.resync();
    return handle;
  }
}

/** One open document: its `doc`, its `awareness`, whether the server has every change (`status`), and `close()`. */
export class DocumentHandle extends Emitter<DocumentEvents> {
  readonly doc: Y.Doc;
  readonly awareness: Awareness;
  /**
   * Resolves the first time the document is synced (opened, and every local change stored);
   * rejects with the typed error if the server refuses to open it before then (`closed`).
   */
  readonly synced: Promise<void>;
  #resolveSynced!: () => void;
  #rejectSynced!: (error: SwitchboardError) => void;
  readonly #ownsDoc: boolean;
  #status: DocumentStatus = 'offline';
  #unacknowledged = 0;
  /** What the last `status` event said (at first, what the getters say). */
  #reported: DocumentStatusEvent = { status: 'offline', unacknowledged: 0 };
  /** Local changes not sent yet, each with how many changes it stands for. */
  #pending: Array<{ update: Uint8Array; count: number }> = [];
  /** Local changes sent and not answered yet: sent again on reconnect if the server turns out to hold them already. */
  readonly #inflight = new Set<{ update: Uint8Array; count: number }>();
  #retry: ReturnType<typeof setTimeout> | null = null;
  /** An open refused for now (a rate, the store away) is tried again after a pause, doubled at each refusal in a row. */
  #reopen: ReturnType<typeof setTimeout> | null = null;
  #reopenAttempts = 0;
  #flushScheduled = false;
  #awarenessScheduled = false;
  /** The server has the document open for this connection (the current open succeeded). */
  #opened = false;
  /** Bumped at every (re)open: replies of an older one are ignored. */
  #generation = 0;
  #writable = true;
  #closed = false;
  #cursors: DocumentCursors | null = null;

  constructor(
    private readonly host: FeatureHost,
    readonly name: string,
    options: OpenDocumentOptions,
    private readonly forget: () => void,
  ) {
    super();
    this.#ownsDoc = options.doc === undefined;
    this.doc = options.doc ?? new Y.Doc();
    this.awareness = new Awareness(this.doc);
    this.synced = new Promise((resolve, reject) => {
      this.#resolveSynced = resolve;
      this.#rejectSynced = reject;
    });
    // A refusal nobody awaits is reported on `error` and `closed`: not an unhandled rejection.
    this.synced.catch(() => undefined);
    this.doc.on('update', this.#onLocalUpdate);
    this.awareness.on('update', this.#onLocalAwareness);
  }

  get status(): DocumentStatus {
    return this.#status;
  }

  /** Local changes the server has not acknowledged as stored yet. */
  get unacknowledged(): number {
    return this.#unacknowledged;
  }

  /**
   * Cursors and selections over the document's channel, for apps without Yjs awareness
   * (`cursors.set({ x, y })`, `cursors.select(['node-7'])`, `cursors.on('change', …)`).
   */
  get cursors(): DocumentCursors {
    this.#cursors ??= new DocumentCursors(this.host, this.name);
    return this.#cursors;
  }

  /** Whether this connection's token may write to the document (else changes are refused with 103). */
  get writable(): boolean {
    return this.#writable;
  }

  /** Open (or open again after a reconnect): exchange what each side lacks. */
  async resync(): Promise<void> {
    if (this.#closed) return;
    const generation = ++this.#generation;
    this.#opened = false;
    this.#clearReopen();
    this.#setStatus('syncing');
    // Everything not acknowledged so far goes in the one update this open sends.
    const carried = this.#unacknowledged;
    const unanswered = [...this.#inflight, ...this.#pending].map((p) => p.update);
    this.#inflight.clear();
    this.#pending = [];
    try {
      const reply = await this.host.call<{ update: string; stateVector: string; awareness: string | null; writable: boolean }>('documents.open', {
        name: this.name,
        stateVector: toBase64(Y.encodeStateVector(this.doc)),
      });
      if (generation !== this.#generation || this.#closed) return;
      this.#reopenAttempts = 0;
      Y.applyUpdate(this.doc, fromBase64(reply.update), SERVER);
      if (reply.awareness) applyAwarenessUpdate(this.awareness, fromBase64(reply.awareness), SERVER);
      this.#writable = reply.writable;
      this.#opened = true;
      this.#sendAwareness();
      const local = Y.encodeStateAsUpdate(this.doc, fromBase64(reply.stateVector));
      if (!this.#writable) this.#acknowledge(carried);
      else if (!isEmptyUpdate(local)) await this.#send(local, carried, generation);
      // The server holds every change (it stored them, but the acknowledgement was lost with the
      // connection): the ones never answered go again; they change nothing there, and the
      // answer comes once they are stored.
      else if (carried > 0) await this.#send(unanswered.length > 0 ? Y.mergeUpdates(unanswered) : local, carried, generation);
      if (generation === this.#generation) this.#flush();
      this.#settle();
    } catch (err) {
      if (generation !== this.#generation || this.#closed) return;
      const error = err instanceof SwitchboardError ? err : SwitchboardError.of(ClientCode.ConnectionClosed);
      if (this.host.session === null) this.offline();
      if (error.code === ClientCode.ConnectionClosed.code) return;
      this.emit('error', { error, during: 'open' });
      if (error.temporary || error.code === ErrorCode.TokenExpired.code) this.#scheduleReopen(error, generation);
      else this.#refused(error);
    }
  }

  /** Open again after a pause, unless the connection dropped meanwhile (its reconnect opens it). */
  #scheduleReopen(error: SwitchboardError, generation: number): void {
    this.#clearReopen();
    this.#reopen = setTimeout(
      () => {
        this.#reopen = null;
        if (generation === this.#generation && this.host.session !== null) void this.resync();
      },
      Math.max(error.retryAfter ?? 0, Math.min(10_000, 200 * 2 ** this.#reopenAttempts++)),
    );
  }

  #clearReopen(): void {
    if (this.#reopen) clearTimeout(this.#reopen);
    this.#reopen = null;
  }

  /** The server will not open the document for this token: the handle ends, with the error. */
  #refused(error: SwitchboardError): void {
    this.#rejectSynced(error);
    this.emit('closed', { code: DocumentCloseCode.Forbidden.code, reason: error.message, error });
    this.close();
  }

  /** The connection is gone: other clients' awareness states go; local edits are kept for the next sync. */
  offline(): void {
    this.#generation++;
    this.#opened = false;
    this.#clearReopen();
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID);
    if (others.length > 0) removeAwarenessStates(this.awareness, others, SERVER);
    this.#setStatus('offline');
  }

  /** A `documents` push for this document. */
  handlePush(event: string, data: Record<string, unknown>): void {
    if (this.#closed) return;
    if ((event === 'update' || event === 'awareness') && typeof data['update'] === 'string') {
      const bytes = fromBase64(data['update']);
      if (event === 'update') Y.applyUpdate(this.doc, bytes, SERVER);
      else applyAwarenessUpdate(this.awareness, bytes, SERVER);
      return;
    }
    if (event === 'closed') {
      const code = typeof data['code'] === 'number' ? data['code'] : 0;
      if (code === RESET) {
        void this.resync();
        return;
      }
      this.emit('closed', { code, reason: typeof data['reason'] === 'string' ? data['reason'] : '' });
      this.close();
    }
  }

  /**
   * Stop syncing: the server forgets this connection's hold on the document (its awareness
   * state goes); a document the handle made is destroyed, one passed in is left to its owner.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation++;
    this.forget();
    if (this.#retry) clearTimeout(this.#retry);
    this.#clearReopen();
    this.#inflight.clear();
    this.#cursors?.close();
    this.doc.off('update', this.#onLocalUpdate);
    this.awareness.off('update', this.#onLocalAwareness);
    if (this.#opened) this.host.call('documents.close', { name: this.name }).catch(() => undefined);
    this.#opened = false;
    this.awareness.destroy();
    if (this.#ownsDoc) this.doc.destroy();
    this.#setStatus('offline');
  }

  readonly #onLocalUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === SERVER || this.#closed) return;
    this.#pending.push({ update, count: 1 });
    this.#unacknowledged++;
    this.#settle();
    if (this.#opened && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  };

  readonly #onLocalAwareness = (_changes: unknown, origin: unknown): void => {
    if (origin === SERVER || this.#closed || !this.#opened || this.#awarenessScheduled) return;
    this.#awarenessScheduled = true;
    queueMicrotask(() => {
      this.#awarenessScheduled = false;
      this.#sendAwareness();
    });
  };

  #sendAwareness(): void {
    if (!this.#opened || this.awareness.getLocalState() === null) return;
    const update = encodeAwarenessUpdate(this.awareness, [this.doc.clientID]);
    this.host.call('documents.awareness', { name: this.name, update: toBase64(update) }).catch((err: unknown) => {
      if (err instanceof SwitchboardError && err.code !== ClientCode.ConnectionClosed.code) this.emit('error', { error: err, during: 'awareness' });
    });
  }

  /** Send what changed locally since the last send, as one update. */
  #flush(): void {
    if (!this.#opened || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    const update = batch.length === 1 ? (batch[0] as { update: Uint8Array }).update : Y.mergeUpdates(batch.map((p) => p.update));
    const count = batch.reduce((n, p) => n + p.count, 0);
    void this.#send(update, count, this.#generation);
  }

  /** Send one update that stands for `count` local changes; they count as acknowledged once the server stored it (or refused it). */
  async #send(update: Uint8Array, count: number, generation: number): Promise<void> {
    const sent = { update, count };
    this.#inflight.add(sent);
    try {
      await this.host.call('documents.update', { name: this.name, update: toBase64(update) });
      this.#inflight.delete(sent);
      if (generation === this.#generation) this.#acknowledge(count);
    } catch (err) {
      if (generation !== this.#generation) return;
      const error = err instanceof SwitchboardError ? err : SwitchboardError.of(ClientCode.ConnectionClosed);
      // Lost with the connection: the next open sends it again (it is in the document, and in #inflight).
      if (error.code === ClientCode.ConnectionClosed.code) return;
      this.#inflight.delete(sent);
      // A part lock: the server took the change back (its push follows), so it is settled, not retried.
      if (error.temporary && error.code !== ErrorCode.Locked.code) {
        // Refused for now (a rate, the store away): sent again after a pause, first in line.
        this.#pending.unshift({ update, count });
        this.#retry ??= setTimeout(
          () => {
            this.#retry = null;
            this.#flush();
          },
          Math.max(200, error.retryAfter ?? 0),
        );
        return;
      }
      this.#acknowledge(count);
      this.emit('error', { error, during: 'update' });
    }
  }

  /** `count` local changes are settled (stored, or refused for good). */
  #acknowledge(count: number): void {
    this.#unacknowledged = Math.max(0, this.#unacknowledged - count);
    this.#settle();
  }

  /** Status after a count change: derived while opened; offline, or syncing while opening, otherwise. */
  #settle(): void {
    if (!this.#opened) this.#setStatus(this.#status);
    else this.#setStatus(this.#unacknowledged === 0 && this.#pending.length === 0 ? 'synced' : 'syncing');
  }

  /** Emits `status` when the status or the unacknowledged count differs from the last event. */
  #setStatus(status: DocumentStatus): void {
    if (status === 'synced') this.#resolveSynced();
    this.#status = status;
    const last = this.#reported;
    if (last.status === status && last.unacknowledged === this.#unacknowledged) return;
    this.#reported = { status, unacknowledged: this.#unacknowledged };
    this.emit('status', { ...this.#reported });
  }
}
