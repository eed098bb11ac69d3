import type { Broker, ChannelEvent, StreamPublication } from '../engine/broker.js';
import type { NodeStats } from '../observability/stats.js';
import { ChannelResolver, KEY_SEPARATOR } from './channels.js';
import { ConflatedFrame, type ConflationOptions, ConflationWindow } from './conflation.js';
import { Delivery } from './delivery.js';
import { eventPush, publicationPush } from './encode.js';
import type { TimerWheel } from './timer-wheel.js';

/** A local subscriber the hub hands publications and events to (a Client). */
export interface Subscriber {
  readonly id: string;
  deliverPublication(key: string, delivery: Delivery | ConflatedFrame): void;
  deliverEvent(key: string, bytes: Buffer, droppable: boolean): void;
}

interface Entry<S extends Subscriber> {
  clients: Set<S>;
  /** Resolves once the broker delivers this channel to this node. */
  ready: Promise<void>;
  /** The last publication delivered here, the base of the next one's delta. */
  lastEpoch: string;
  lastOffset: number;
  lastData: string;
  /** A conflated channel's open window (null: not conflated), and the deadline that closes it. */
  window: ConflationWindow | null;
  windowMs: number;
  timer: { cancel(): void } | null;
}

/** What the hub needs of the node besides the broker. */
export interface HubHost {
  onError(err: unknown): void;
  /** The node's clock for conflation windows. */
  wheel: Pick<TimerWheel, 'schedule'>;
  /** Counts the publications a closed window conflated away on this node. */
  stats: Pick<NodeStats, 'conflated'>;
}

/**
 * Channel key -> local subscribers. Encodes each publication once and hands the same
 * bytes to every local subscriber. Tells the broker when the node's interest starts and ends.
 */
export class Hub<S extends Subscriber = Subscriber> {
  readonly #channels = new Map<string, Entry<S>>();

  constructor(
    private readonly broker: Broker,
    private readonly host: HubHost,
  ) {}

  /** Add a local subscriber; `conflation` (the namespace's option) applies from the channel's first one on this node. */
  async add(key: string, client: S, conflation?: ConflationOptions): Promise<void> {
    let entry = this.#channels.get(key);
    if (!entry) {
      const window = conflation ? new ConflationWindow(conflation.key) : null;
      const ready = this.broker.subscribe(key);
      const created: Entry<S> = {
        clients: new Set(),
        ready,
        lastEpoch: '',
        lastOffset: 0,
        lastData: '',
        window,
        windowMs: conflation?.windowMs ?? 0,
        timer: null,
      };
      entry = created;
      this.#channels.set(key, created);
      created.ready.catch(() => {
        if (this.#channels.get(key) === created) this.#channels.delete(key);
      });
    }
    entry.clients.add(client);
    try {
      await entry.ready;
    } catch (err) {
      entry.clients.delete(client);
      throw err;
    }
  }

  remove(key: string, client: S): void {
    const entry = this.#channels.get(key);
    if (!entry?.clients.delete(client)) return;
    if (entry.clients.size > 0) return;
    this.#channels.delete(key);
    entry.timer?.cancel();
    this.broker.unsubscribe(key).catch((err) => this.host.onError(err));
  }

  subscribers(key: string): number {
    return this.#channels.get(key)?.clients.size ?? 0;
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  /** Channels of one tenant with their local subscriber counts. */
  channels(tenant: string): Array<{ channel: string; subscribers: number }> {
    const prefix = tenant + KEY_SEPARATOR;
    const out: Array<{ channel: string; subscribers: number }> = [];
    for (const [key, entry] of this.#channels) {
      if (key.startsWith(prefix)) out.push({ channel: ChannelResolver.channelOf(key), subscribers: entry.clients.size });
    }
    return out;
  }

  publish(key: string, pub: StreamPublication, epoch: string): void {
    const entry = this.#channels.get(key);
    if (!entry) return;
    if (entry.window) {
      this.#conflate(key, entry, pub, epoch);
      return;
    }
    const channel = ChannelResolver.channelOf(key);
    const follows = entry.lastEpoch === epoch && entry.lastOffset === pub.offset - 1;
    const delivery = new Delivery(channel, epoch, pub, publicationPush(channel, pub, epoch), follows ? entry.lastData : null);
    entry.lastEpoch = epoch;
    entry.lastOffset = pub.offset;
    entry.lastData = pub.data;
    for (const client of entry.clients) client.deliverPublication(key, delivery);
  }

  /** Publications waiting in a conflated channel's open window on this node (0: none, or not conflated). */
  conflating(key: string): number {
    return this.#channels.get(key)?.window?.size ?? 0;
  }

  /** A conflated channel: the publication joins the open window (closing it first when it does not follow on). */
  #conflate(key: string, entry: Entry<S>, pub: StreamPublication, epoch: string): void {
    const window = entry.window as ConflationWindow;
    if (!window.follows(epoch, pub.offset)) this.#closeWindow(key, entry);
    window.add(pub, epoch);
    entry.timer ??= this.host.wheel.schedule(entry.windowMs, () => this.#closeWindow(key, entry));
  }

  /** Deliver a window's survivors to every local subscriber as one frame, encoded once. */
  #closeWindow(key: string, entry: Entry<S>): void {
    entry.timer?.cancel();
    entry.timer = null;
    const window = entry.window as ConflationWindow;
    if (window.size === 0 || this.#channels.get(key) !== entry) return;
    const contents = window.take();
    this.host.stats.conflated += contents.skipped;
    const frame = new ConflatedFrame(ChannelResolver.channelOf(key), contents);
    for (const client of entry.clients) client.deliverPublication(key, frame);
  }

  /** Local subscribers of a channel (a copy: the caller may remove them). */
  clientsOf(key: string): S[] {
    const entry = this.#channels.get(key);
    return entry ? [...entry.clients] : [];
  }

  event(key: string, event: ChannelEvent): void {
    const entry = this.#channels.get(key);
    if (!entry) return;
    const bytes = eventPush(ChannelResolver.channelOf(key), event);
    const isSignal = event.kind === 'signal';
    const skip = isSignal ? event.from.client : null;
    for (const client of entry.clients) {
      if (client.id !== skip) client.deliverEvent(key, bytes, isSignal);
    }
  }
}
