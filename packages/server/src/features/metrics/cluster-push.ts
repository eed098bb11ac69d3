import type { Logger } from 'pino';
import type { FeatureMessages } from '../scoped-engine.js';
import { MetricDecodeError } from './bytes.js';
import type { MetricStores } from './metric-stores.js';

/** The node message carrying a node's changed buckets. */
const PARTS = 'parts';
/** Stores per announcement: one message stays well under a megabyte (a bucket is ~0.2 to 5 KB). */
const STORES_PER_MESSAGE = 200;

/**
 * Partial buckets between nodes (the Redis engine): once per `interval` ms this node
 * announces, whole, every bucket of its own stores that its ingest changed since the last
 * announcement (binary, base64, over the feature's node messages, with the writer its stored
 * 1-minute rows carry, so a persisted query takes each minute of a node from one place), and
 * merges what the other nodes announce into `stores.remote`. Nothing is built or sent on the one-process engine.
 * A node that leaves keeps its parts on the others until they age out of their retention:
 * what it ingested stays counted.
 */
export class MetricPusher {
  readonly #stores: MetricStores;
  readonly #messages: FeatureMessages;
  readonly #logger: Logger;
  /** store key → step → starts changed since the last announcement. */
  #pending = new Map<string, Map<number, Set<number>>>();
  readonly #stop: Array<() => void> = [];
  #timer: NodeJS.Timeout | null = null;

  /** This node's writer of stored 1-minute rows (persist.ts), sent with each announcement. */
  readonly #writer: string | undefined;

  constructor(stores: MetricStores, messages: FeatureMessages, logger: Logger, writer?: string) {
    this.#writer = writer;
    this.#stores = stores;
    this.#messages = messages;
    this.#logger = logger;
  }

  /** Starts announcing every `interval` ms and hearing the other nodes; nothing at all when alone. */
  start(interval: number): void {
    if (this.#messages.alone) return;
    this.#stop.push(
      this.#stores.onChange((key, changed, local) => {
        if (!local) return;
        let steps = this.#pending.get(key);
        if (!steps) {
          steps = new Map();
          this.#pending.set(key, steps);
        }
        for (const [step, starts] of changed) {
          const set = steps.get(step) ?? new Set<number>();
          for (const s of starts) set.add(s);
          steps.set(step, set);
        }
      }),
      this.#messages.onNotification(PARTS, (data, from) => this.#heard(data, from)),
    );
    this.#timer = setInterval(() => void this.push(), interval);
    this.#timer.unref();
  }

  /** Announces the buckets changed since the last call; returns the messages sent. */
  async push(): Promise<number> {
    if (this.#pending.size === 0) return 0;
    const pending = this.#pending;
    this.#pending = new Map();
    const messages = this.#stores.exportParts(pending, STORES_PER_MESSAGE);
    for (const bytes of messages) {
      try {
        await this.#messages.notify(PARTS, { b: Buffer.from(bytes).toString('base64'), ...(this.#writer ? { w: this.#writer } : {}) });
      } catch (err) {
        // The buckets are announced again with their next change; until then the others miss this part.
        this.#logger.warn({ err }, 'metric buckets not announced to the other nodes');
      }
    }
    return messages.length;
  }

  #heard(data: unknown, from: string): void {
    if (from === this.#messages.nodeId) return;
    const { b, w } = (data as { b?: unknown; w?: unknown } | null) ?? {};
    if (typeof b !== 'string') return;
    try {
      this.#stores.acceptRemote(from, Buffer.from(b, 'base64'), typeof w === 'string' && w.length <= 200 ? w : undefined);
    } catch (err) {
      if (!(err instanceof MetricDecodeError)) throw err;
      this.#logger.warn({ err, from }, 'metric buckets of another node refused');
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const s of this.#stop) s();
    this.#stop.length = 0;
  }
}
