import type { Logger } from 'pino';
import type { FeatureLeases, FeatureMessages } from './scoped-engine.js';

/** How long the reap lease of a departed node is held at most (a reap that takes longer lets another node start over). */
const REAP_LEASE_MS = 60_000;

export interface NodeReaperOptions {
  leases: FeatureLeases;
  messages: FeatureMessages;
  logger: Logger;
  /** What is reaped, for the log (`locks`, `lifecycle rows`). */
  what: string;
  /** Clean up what `node` left behind; called under a lease named after the node, so one node of the cluster runs it at a time. */
  reap(node: string): Promise<void>;
  /**
   * The nodes that left rows (the feature's own index): with it, the reaper holds a liveness
   * lease for this node and reaps, at start and every `livenessTtl`, the listed nodes that
   * hold none (a previous run under another id, a node whose departure nobody announced).
   */
  nodesWithRows?(): Promise<string[]>;
  /** The liveness lease's TTL (ms; renewed every third of it). Default 30 s. */
  livenessTtl?: number;
}

/**
 * Cleanup of what a departed node's connections left in a feature's tables, once in the
 * cluster: on every node-down notice (a clean shutdown, or a node whose registration expired
 * after kill -9) the first survivor to take the lease `reap:<node>` runs `reap`; at start, the
 * rows of a previous run of this node id are reaped the same way; with `nodesWithRows`, rows
 * of nodes that hold no liveness lease (previous runs under other ids) too.
 */
export class NodeReaper {
  readonly #o: NodeReaperOptions;
  readonly #timers = new Set<NodeJS.Timeout>();
  #liveness: number | null = null;
  #stopped = false;

  constructor(options: NodeReaperOptions) {
    this.#o = options;
  }

  static livenessKey(node: string): string {
    return `alive:${node}`;
  }

  /**
   * Listen for departures and reap what previous runs left. Resolves once the liveness lease
   * is held (when used), or its first attempt failed (the engine is away: it is retried every
   * third of its TTL, and the node starts unready as it does without the reaper).
   */
  async start(): Promise<void> {
    const { messages, logger, what } = this.#o;
    messages.onNodeDown((node) => this.reap(node));
    if (this.#o.nodesWithRows) {
      const ttl = this.#o.livenessTtl ?? 30_000;
      const live = async () => {
        const key = NodeReaper.livenessKey(messages.nodeId);
        if (this.#liveness === null || !(await this.#o.leases.renew(key, this.#liveness, ttl)))
          this.#liveness = await this.#o.leases.acquire(key, ttl, messages.nodeId);
      };
      await live().catch((err) => logger.warn({ err }, `${what}: taking this node's liveness lease failed; retrying`));
      this.#every(Math.max(50, Math.floor(ttl / 3)), live);
      this.#every(ttl, () => this.reapOrphans());
    }
    void this.reap(messages.nodeId)
      .then(() => this.reapOrphans())
      .catch((err) => logger.warn({ err }, `reaping the ${what} of a previous run failed`));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
  }

  /** Reap one departed node, unless another node is doing it. */
  async reap(node: string): Promise<void> {
    if (this.#stopped) return;
    const key = `reap:${node}`;
    const token = await this.#o.leases.acquire(key, REAP_LEASE_MS, this.#o.messages.nodeId);
    if (token === null) return;
    try {
      await this.#o.reap(node);
    } finally {
      await this.#o.leases.release(key, token).catch(() => false);
    }
  }

  /** Reap the nodes with rows that hold no liveness lease (not this one). */
  async reapOrphans(): Promise<void> {
    if (!this.#o.nodesWithRows || this.#stopped) return;
    for (const node of await this.#o.nodesWithRows()) {
      if (this.#stopped) return;
      if (node === this.#o.messages.nodeId) continue;
      if (await this.#o.leases.get(NodeReaper.livenessKey(node))) continue;
      await this.reap(node);
    }
  }

  #every(ms: number, fn: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.#stopped) return;
      running = true;
      fn()
        .catch((err: unknown) => this.#o.logger.warn({ err }, `${this.#o.what}: node maintenance failed`))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }
}
