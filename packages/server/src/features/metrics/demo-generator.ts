import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { ReplyError } from '../../errors/reply-error.js';
import type { FeatureLeases } from '../scoped-engine.js';
import type { SeriesDeclaration } from './config.js';
import { DEMO_LATENCY, DEMO_REQUESTS, DemoTraffic } from './demo-traffic.js';
import type { Ingest } from './ingest.js';
import type { SeriesRegistry } from './series-registry.js';

/** The series the generator declares for its tenant (as `PUT /api/v1/metrics/series/{name}` would). */
export const DEMO_SERIES: Readonly<Record<string, Record<string, unknown>>> = Object.freeze({
  [DEMO_REQUESTS]: { kind: 'counter', unit: 'requests', labels: ['route'] },
  [DEMO_LATENCY]: { kind: 'distribution', unit: 'ms', labels: ['route'] },
});
/** How often points are written, ms. */
export const DEMO_TICK_MS = 250;
/** The lease that makes one node of a cluster the generator: its TTL, and how often it is renewed (or sought), ms. */
const LEASE_KEY = 'demo-generator';
const LEASE_TTL_MS = 10_000;
const LEASE_EVERY_MS = 3000;
/** A tick never covers more than this (after a stall, or the first tick after the lease was won), ms. */
const MAX_TICK_MS = 1000;
/** How long the generator goes on after the last of its followers on this node left, ms. */
export const DEMO_IDLE_MS = 60_000;

export interface DemoGeneratorOptions {
  tenant: string;
  ingest: Pick<Ingest, 'push'>;
  registry: Pick<SeriesRegistry, 'lookup' | 'put'>;
  /** The configuration's declaration of a series, if any: the generator then declares nothing of that name. */
  configured: (name: string) => SeriesDeclaration | undefined;
  leases: FeatureLeases;
  /** Whether a connection of this node follows the generated series now (it generates only then, and for DEMO_IDLE_MS after). */
  followed: () => boolean;
  nodeId: string;
  now: () => number;
  logger: Logger;
  random?: () => number;
}

/**
 * The demo workspace's built-in traffic (demo-traffic.ts), written into the demo tenant's
 * metric scope through the feature's own ingest path every DEMO_TICK_MS while the demo is on
 * and someone follows it: a node generates while one of its connections subscribes to a
 * `demo.*` series of tenant demo, and for DEMO_IDLE_MS after (an idle server writes nothing).
 * One node of a cluster generates: the holder of the `demo-generator` lease, as alert
 * evaluation picks one node per rule; the others' reads merge its buckets. The timer is
 * unref'd and `stop` waits for the tick in flight, then gives the lease up.
 */
export class DemoGenerator {
  readonly #o: DemoGeneratorOptions;
  readonly #traffic: DemoTraffic;
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #token: number | null = null;
  #leaseAt = Number.NEGATIVE_INFINITY;
  #declared = false;
  #last: number | null = null;
  #warned = false;
  /** Until when it generates: DEMO_IDLE_MS after a follower was last seen on this node. */
  #activeUntil = Number.NEGATIVE_INFINITY;

  constructor(options: DemoGeneratorOptions) {
    this.#o = options;
    this.#traffic = new DemoTraffic(options.random);
  }

  /** Whether this node generates now (it holds the lease). */
  get leading(): boolean {
    return this.#token !== null;
  }

  /** Declares the series (so they can be followed as soon as the node is up), then ticks every DEMO_TICK_MS. */
  async start(): Promise<void> {
    if (this.#timer) return;
    this.#ticking = this.#declare().catch((err) => this.#warn(err));
    await this.#ticking;
    this.#ticking = null;
    this.#timer = setInterval(() => {
      if (this.#ticking) return;
      this.#ticking = this.tick().finally(() => {
        this.#ticking = null;
      });
    }, DEMO_TICK_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#ticking;
    await this.#giveUp();
  }

  /**
   * One tick: while followed on this node (or for DEMO_IDLE_MS after), hold (or seek) the
   * lease, declare the series once, write the points since the last tick; otherwise give the
   * lease up, so a node whose connections follow the series takes it.
   */
  async tick(): Promise<void> {
    try {
      const now = this.#o.now();
      if (this.#o.followed()) this.#activeUntil = now + DEMO_IDLE_MS;
      if (now >= this.#activeUntil) {
        this.#last = null;
        await this.#giveUp();
        return;
      }
      if (!(await this.#lease(now))) {
        this.#last = null;
        return;
      }
      if (!this.#declared) await this.#declare();
      const elapsed = this.#last === null ? DEMO_TICK_MS : Math.min(MAX_TICK_MS, Math.max(0, now - this.#last));
      this.#last = now;
      await this.#o.ingest.push(this.#o.tenant, this.#traffic.tick(now, elapsed), 'generator');
    } catch (err) {
      // Its series deleted over HTTP: declared again at the next tick.
      if (err instanceof ReplyError && err.code === ErrorCode.UnknownSeries.code) this.#declared = false;
      this.#warn(err);
    }
  }

  #warn(err: unknown): void {
    if (!this.#warned) this.#o.logger.warn({ err }, 'the demo generator wrote no points (logged once)');
    this.#warned = true;
  }

  async #giveUp(): Promise<void> {
    const token = this.#token;
    if (token === null) return;
    this.#token = null;
    this.#leaseAt = Number.NEGATIVE_INFINITY;
    await this.#o.leases.release(LEASE_KEY, token).catch(() => false);
  }

  async #lease(now: number): Promise<boolean> {
    if (now - this.#leaseAt < LEASE_EVERY_MS && now >= this.#leaseAt) return this.#token !== null;
    this.#leaseAt = now;
    const { leases, nodeId } = this.#o;
    if (this.#token !== null && (await leases.renew(LEASE_KEY, this.#token, LEASE_TTL_MS))) return true;
    this.#token = await leases.acquire(LEASE_KEY, LEASE_TTL_MS, nodeId);
    // Another node may have changed the declarations meanwhile.
    this.#declared = false;
    return this.#token !== null;
  }

  async #declare(): Promise<void> {
    const { registry, tenant, configured } = this.#o;
    for (const [name, declaration] of Object.entries(DEMO_SERIES)) {
      if (configured(name) !== undefined) continue;
      const held = registry.lookup(tenant, name);
      if (held && held.kind === declaration['kind']) continue;
      await registry.put(tenant, name, declaration);
    }
    this.#declared = true;
  }
}
