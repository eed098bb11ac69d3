import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { NodeMessagesView } from '../../core/context.js';
import type { LiveDocument } from './live-document.js';
import type { StoredIndices } from './live-document-deps.js';
import type { DocumentMetrics } from './metrics.js';
import type { Appended } from './store.js';

/** Updates relayed inline up to this many bytes per message; a larger batch is only announced (the other nodes read it from the log). */
const INLINE_BYTES = 64 * 1024;
/** Loaded documents whose log tails are read at once after a lost relay. */
const CATCH_UP_CONCURRENCY = 8;

/**
 * A relayed message: `t` and `c` name the document (tenant, channel); one sent to every node
 * also carries `e`, the sending process's run (random per start), and `n`, its number in
 * that run (1, 2, …), so a receiver sees a message it missed. `update`: `a`…`b` the log
 * numbers, `u` the updates (base64) or null; `unstored`: `u`; `state-sync`: `sv` (a state
 * vector, base64) and `back` (true: an answer's own question, not to be asked back);
 * `state-sync-reply`: `u` (one update); `awareness`: `u` (one awareness update) and `user`.
 */
type Message = Record<string, unknown>;
interface DocumentRef {
  t: string;
  c: string;
}

/** How the relay reaches the documents this node holds. */
export interface RelayTarget {
  loaded(tenant: string, channel: string): LiveDocument | undefined;
  all(): Iterable<LiveDocument>;
  /** A lock on a key of a document channel changed on another node (`user` null: released). */
  lockChanged(tenant: string, channel: string, key: string, user: string | null): void;
  /** Lock news may have been missed: read the locks of the loaded documents again. */
  refreshLocks(): Promise<void>;
  /** Another node deleted a document: this node's copy goes and its peers are told. */
  deletedElsewhere(tenant: string, channel: string): void;
}

const isRef = (d: Message): d is DocumentRef & Message => typeof d['t'] === 'string' && typeof d['c'] === 'string';
const decode = (list: unknown): Uint8Array[] | null =>
  Array.isArray(list) && list.every((x) => typeof x === 'string') ? list.map((x) => new Uint8Array(Buffer.from(x, 'base64'))) : null;
const encode = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');

/**
 * A document's changes between the nodes that hold it, over the engine's node-to-node
 * messages. The durable log is the truth and a message only the nudge: a stored batch is
 * announced with the numbers the log gave it (and its bytes when small), so a node applies
 * the next numbers at once and reads the log's tail after a gap. Messages can be lost (the
 * engine away, a node cut off): each carries its sender's number, and every node sends a
 * tick each `tickMs`, so a lost message is noticed within a tick even when no document
 * changes, and every document this node holds reads its log's tail then.
 *
 * A document that is not stored has no log: a node that loads it, or missed a message from
 * another node, sends that node (on load: every node) its state vector for each such
 * document; a holder answers with what it lacks and asks back for what it holds more of.
 *
 * Awareness states go the same way, each tagged with the node and user that set it; a
 * node's states are removed everywhere when it leaves (`onNodeDown`), and a node that
 * loads a document asks the others for theirs.
 *
 * On the one-process engine there is no other node: nothing is encoded or sent.
 */
export class DocumentRelay {
  readonly #run = randomBytes(6).toString('hex');
  #sent = 0;
  /** The last message number seen per sending node, in its run. */
  readonly #seen = new Map<string, { run: string; n: number }>();
  readonly #unsubscribe: Array<() => void> = [];
  #tick: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    private readonly messages: NodeMessagesView,
    private readonly target: RelayTarget,
    private readonly metrics: DocumentMetrics,
    private readonly logger: Logger,
    tickMs: number,
  ) {
    const on = (op: string, fn: (data: Message, from: string) => void) =>
      this.#unsubscribe.push(
        messages.onNotification(op, (data, from) => {
          if (from === messages.nodeId || this.#closed || typeof data !== 'object' || data === null) return;
          fn(data as Message, from);
        }),
      );
    on('update', (d, from) => this.#onUpdate(d, from));
    on('early', (d, from) => this.#onEarly(d, from));
    on('unstored', (d, from) => this.#onUnstored(d, from));
    on('state-sync', (d, from) => this.#onStateSync(d, from));
    on('state-sync-reply', (d, from) => this.#onStateSyncReply(d, from));
    on('awareness', (d, from) => this.#onAwareness(d, from));
    on('awareness-sync', (d, from) => this.#onAwarenessSync(d, from));
    on('deleted', (d, from) => this.#onDeleted(d, from));
    on('lock', (d, from) => this.#onLock(d, from));
    on('tick', (d, from) => this.#sequenced(d, from));
    this.#unsubscribe.push(messages.onNodeDown((node) => this.#onNodeDown(node)));
    if (!messages.alone) {
      this.#tick = setInterval(() => this.#send('tick', {}), tickMs);
      this.#tick.unref();
    }
  }

  /** Whether this node is the only one (the one-process engine): nothing is sent. */
  get alone(): boolean {
    return this.messages.alone;
  }

  /**
   * `doc`'s updates numbered `after + 1`… in this load, before they are stored: the other
   * nodes apply them at once (their clients need not wait for the write). False when not sent
   * (more than INLINE_BYTES: the other nodes read them from the log once stored).
   */
  early(doc: LiveDocument, updates: Uint8Array[], after: number): boolean {
    if (this.messages.alone) return true;
    const bytes = updates.reduce((n, u) => n + u.byteLength, 0);
    if (bytes > INLINE_BYTES) return false;
    this.#send('early', { t: doc.tenant, c: doc.channel, l: doc.instance, k: after, u: updates.map(encode) });
    return true;
  }

  /**
   * A batch of `doc`'s updates was logged with the numbers `range`: the updates numbered
   * `indices.after + 1`… `indices.upTo` of this load. Their bytes go along only when they were
   * not all relayed early (and are at most INLINE_BYTES).
   */
  stored(doc: LiveDocument, updates: Uint8Array[], range: Appended, indices: StoredIndices): void {
    if (this.messages.alone) return;
    const bytes = updates.reduce((n, u) => n + u.byteLength, 0);
    const u = !indices.early && bytes <= INLINE_BYTES ? updates.map(encode) : null;
    this.#send('update', { t: doc.tenant, c: doc.channel, a: range.from, b: range.to, u, l: doc.instance, ka: indices.after, kb: indices.upTo, s: bytes });
  }

  /** Changes of a document that is not stored (no log to read a lost one back from). */
  unstored(doc: LiveDocument, updates: Uint8Array[]): void {
    if (this.messages.alone) return;
    this.#send('unstored', { t: doc.tenant, c: doc.channel, u: updates.map(encode) });
  }

  awareness(doc: LiveDocument, update: Uint8Array, user: string | null): void {
    if (this.messages.alone) return;
    this.#send('awareness', { t: doc.tenant, c: doc.channel, u: encode(update), user });
  }

  /** `doc` was loaded here: the other nodes' awareness states are asked for, and their content when it is not stored. */
  loaded(doc: LiveDocument): void {
    this.#send('awareness-sync', { t: doc.tenant, c: doc.channel });
    this.#askState(doc);
  }

  /** A lock on a key of a document channel was granted (`user`) or released (null) on this node. */
  lock(tenant: string, channel: string, key: string, user: string | null): void {
    this.#send('lock', { t: tenant, c: channel, k: key, user });
  }

  deleted(tenant: string, channel: string): void {
    this.#send('deleted', { t: tenant, c: channel });
  }

  close(): void {
    this.#closed = true;
    if (this.#tick) clearInterval(this.#tick);
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  #send(op: string, data: Message, toNode?: string): void {
    if (this.#closed || this.messages.alone) return;
    const message = toNode === undefined ? { ...data, e: this.#run, n: ++this.#sent } : data;
    this.messages.notify(op, message, toNode).catch((err: unknown) => this.logger.debug({ err, op }, 'a document relay was not sent'));
  }

  /**
   * Note a message's number from `from`: true when it is the next one. A gap (or a first
   * message of a new run that is not its first) means something was missed: every stored
   * document held here reads its log's tail, and every other one compares state vectors with
   * that node.
   */
  #sequenced(d: Message, from: string): boolean {
    const run = d['e'];
    const n = d['n'];
    if (typeof run !== 'string' || typeof n !== 'number') return true;
    const last = this.#seen.get(from);
    // Messages of one run arrive in order: an older number is a duplicate.
    if (last !== undefined && last.run === run && n <= last.n) return true;
    this.#seen.set(from, { run, n });
    const expected = last === undefined ? null : last.run === run ? last.n + 1 : 1;
    // The first message heard from a node says nothing about what came before it.
    if (expected === null || n === expected) return true;
    this.logger.info(
      { node: from, expected, got: n },
      'document relays from a node were missed: reading the logs of the documents held here, and comparing the others with that node',
    );
    void this.#catchUpAll();
    void this.target.refreshLocks();
    for (const doc of this.target.all()) this.#askState(doc, from);
    return false;
  }

  /** Send `doc`'s state vector, if it is not stored, to `toNode` (or every node); `back`: it answers a node's own, not to be answered the same way. */
  #askState(doc: LiveDocument, toNode?: string, back = false): void {
    if (!doc.unstored) return;
    const sv = encode(doc.unstored.stateVector());
    this.#send('state-sync', back ? { t: doc.tenant, c: doc.channel, sv, back } : { t: doc.tenant, c: doc.channel, sv }, toNode);
  }

  async #catchUpAll(): Promise<void> {
    const docs = [...this.target.all()].filter((d) => d.settings.persistence);
    for (let i = 0; i < docs.length; i += CATCH_UP_CONCURRENCY) {
      await Promise.all(docs.slice(i, i + CATCH_UP_CONCURRENCY).map((d) => d.catchUp()));
    }
  }

  #onUpdate(d: Message, from: string): void {
    this.#sequenced(d, from);
    const a = d['a'];
    const b = d['b'];
    if (!isRef(d) || typeof a !== 'number' || typeof b !== 'number') return;
    const doc = this.target.loaded(d.t, d.c);
    if (!doc) return;
    const updates = decode(d['u']);
    if (updates) this.metrics.relayed(updates.length);
    const { l, ka, kb, s } = d;
    const early = typeof l === 'number' && typeof ka === 'number' && typeof kb === 'number' && typeof s === 'number';
    doc.remote(a, b, updates, early ? { node: from, instance: l, after: ka, upTo: kb, bytes: s } : undefined);
  }

  #onEarly(d: Message, from: string): void {
    this.#sequenced(d, from);
    const { l, k } = d;
    if (!isRef(d) || typeof l !== 'number' || typeof k !== 'number') return;
    const updates = decode(d['u']);
    const doc = this.target.loaded(d.t, d.c);
    if (!doc || !updates) return;
    this.metrics.relayed(updates.length);
    doc.early(from, l, k, updates);
  }

  #onUnstored(d: Message, from: string): void {
    this.#sequenced(d, from);
    if (!isRef(d)) return;
    const updates = decode(d['u']);
    const doc = this.target.loaded(d.t, d.c);
    if (updates) doc?.unstored?.remote(updates);
  }

  /** Another node's state vector of a document that is not stored: what it lacks goes to it alone, and what it holds more of is asked for. */
  #onStateSync(d: Message, from: string): void {
    this.#sequenced(d, from);
    const sv = d['sv'];
    if (!isRef(d) || typeof sv !== 'string') return;
    const doc = this.target.loaded(d.t, d.c);
    const answer = doc?.unstored?.answer(new Uint8Array(Buffer.from(sv, 'base64')));
    if (!doc || !answer) return;
    if (answer.update) this.#send('state-sync-reply', { t: d.t, c: d.c, u: encode(answer.update) }, from);
    if (answer.askBack && d['back'] !== true) this.#askState(doc, from, true);
  }

  #onStateSyncReply(d: Message, from: string): void {
    this.#sequenced(d, from);
    const u = d['u'];
    if (isRef(d) && typeof u === 'string') this.target.loaded(d.t, d.c)?.unstored?.remote([new Uint8Array(Buffer.from(u, 'base64'))]);
  }

  #onAwareness(d: Message, from: string): void {
    this.#sequenced(d, from);
    const u = d['u'];
    const user = d['user'];
    if (!isRef(d) || typeof u !== 'string') return;
    const doc = this.target.loaded(d.t, d.c);
    if (doc) doc.aware.applyRemote(new Uint8Array(Buffer.from(u, 'base64')), from, typeof user === 'string' ? user : null);
  }

  /** A node loaded a document: the states this node's peers set go to it alone. */
  #onAwarenessSync(d: Message, from: string): void {
    this.#sequenced(d, from);
    if (!isRef(d)) return;
    const doc = this.target.loaded(d.t, d.c);
    if (!doc) return;
    for (const { update, user } of doc.aware.local()) this.#send('awareness', { t: d.t, c: d.c, u: encode(update), user }, from);
  }

  #onLock(d: Message, from: string): void {
    this.#sequenced(d, from);
    const key = d['k'];
    const user = d['user'];
    if (isRef(d) && typeof key === 'string') this.target.lockChanged(d.t, d.c, key, typeof user === 'string' ? user : null);
  }

  #onDeleted(d: Message, from: string): void {
    this.#sequenced(d, from);
    if (isRef(d)) this.target.deletedElsewhere(d.t, d.c);
  }

  #onNodeDown(node: string): void {
    this.#seen.delete(node);
    for (const doc of this.target.all()) {
      doc.aware.nodeDown(node);
      doc.nodeDown(node);
    }
  }
}
