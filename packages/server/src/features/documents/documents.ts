import type { Logger } from 'pino';
import type { ResolvedChannel } from '../../core/channels.js';
import type { DocumentSettings, DocumentsConfig } from './config.js';
import { type DocumentPeer, LiveDocument } from './live-document.js';
import type { DocumentMetrics } from './metrics.js';
import type { DocumentStore } from './store.js';

/**
 * The documents loaded on this node. A document is loaded once however many peers open it
 * at once (they share one load), and unloaded `idleUnload` after its last peer left, once
 * nothing is queued or being written: a peer that opens it meanwhile keeps it, and one
 * that opens it after the unload loads it again from the store, whole.
 */
export class Documents {
  readonly #live = new Map<string, LiveDocument>();
  readonly #loading = new Map<string, Promise<LiveDocument>>();
  readonly #unloads = new Map<string, NodeJS.Timeout>();
  readonly #discarding = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(
    private readonly store: DocumentStore,
    private readonly config: () => DocumentsConfig,
    private readonly metrics: DocumentMetrics,
    private readonly logger: Logger,
  ) {}

  get loadedCount(): number {
    return this.#live.size;
  }

  /** The loaded document of a channel, if any (no load). */
  loaded(tenant: string, channel: string): LiveDocument | undefined {
    return this.#live.get(`${tenant}|${channel}`);
  }

  /**
   * Open a document for a peer: loaded (or loading) ones are shared. The peer has joined
   * when this resolves, so the document cannot be unloaded under it.
   */
  async open(ch: ResolvedChannel, settings: DocumentSettings, peer: DocumentPeer): Promise<LiveDocument> {
    const doc = await this.#get(ch, settings);
    this.#cancelUnload(doc.key);
    doc.join(peer);
    return doc;
  }

  #get(ch: ResolvedChannel, settings: DocumentSettings): Promise<LiveDocument> {
    const key = ch.key;
    const live = this.#live.get(key);
    if (live) return Promise.resolve(live);
    const loading = this.#loading.get(key);
    if (loading) return loading;
    // A discarded document loads again once what it had queued is written.
    const after = this.#discarding.get(key) ?? Promise.resolve();
    const load = after
      .then(() => (settings.persistence ? this.store.load(ch.tenant, ch.channel) : null))
      .then((stored) => {
        if (this.#stopped) throw new Error('documents are stopping');
        const doc = new LiveDocument(ch.tenant, ch.channel, stored, {
          store: this.store,
          settings,
          compactAfter: this.config().compactAfter,
          metrics: this.metrics,
          logger: this.logger,
          idle: (d) => this.#scheduleUnload(d),
          broken: (d) => this.#discard(d),
        });
        this.#live.set(key, doc);
        this.metrics.loaded(1);
        return doc;
      })
      .finally(() => this.#loading.delete(key));
    this.#loading.set(key, load);
    return load;
  }

  /**
   * An update broke the document halfway through its integration: it is dropped from
   * memory at once (what it emitted since load is queued or stored; the broken part was
   * neither), its peers are closed to reconnect and sync again, and the next open loads it
   * from the store once its queue is written.
   */
  #discard(doc: LiveDocument): void {
    if (this.#live.get(doc.key) !== doc) return;
    this.#live.delete(doc.key);
    this.#cancelUnload(doc.key);
    this.metrics.loaded(-1);
    this.logger.warn({ channel: doc.channel, tenant: doc.tenant }, 'an update broke a document halfway: it is reloaded from the store');
    const done = doc
      .flush()
      .then(() => doc.flush())
      .finally(() => {
        if (this.#discarding.get(doc.key) === done) this.#discarding.delete(doc.key);
        doc.destroy();
      });
    this.#discarding.set(doc.key, done);
    for (const peer of [...doc.peers]) peer.reset();
  }

  #scheduleUnload(doc: LiveDocument): void {
    if (this.#stopped || this.#live.get(doc.key) !== doc || this.#unloads.has(doc.key)) return;
    const timer = setTimeout(() => {
      this.#unloads.delete(doc.key);
      if (!doc.idle || this.#live.get(doc.key) !== doc) return;
      this.#live.delete(doc.key);
      this.metrics.loaded(-1);
      doc.destroy();
    }, this.config().idleUnload);
    timer.unref();
    this.#unloads.set(doc.key, timer);
  }

  #cancelUnload(key: string): void {
    const timer = this.#unloads.get(key);
    if (timer) clearTimeout(timer);
    this.#unloads.delete(key);
  }

  /** Write what every document has queued, then forget them all (the node is stopping). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#unloads.values()) clearTimeout(timer);
    this.#unloads.clear();
    await Promise.allSettled([...this.#loading.values()]);
    const docs = [...this.#live.values()];
    // Two rounds: an update that arrived while the first write ran is written by the second.
    await Promise.all(docs.map((d) => d.flush()));
    await Promise.all(docs.map((d) => d.flush()));
    for (const d of docs) d.destroy();
    this.metrics.loaded(-docs.length);
    this.#live.clear();
  }
}
