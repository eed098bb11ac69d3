import type { Broker, ChannelEvent, StreamPublication } from '../engine/broker.js';
import { ChannelResolver, KEY_SEPARATOR } from './channels.js';
import { Delivery } from './delivery.js';
import { eventPush, publicationPush } from './encode.js';

/** A local subscriber the hub hands publications and events to (a Client). */
export interface Subscriber {
  readonly id: string;
  deliverPublication(key: string, delivery: Delivery): void;
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
}

/**
 * Channel key -> local subscribers. Encodes each publication once and hands the same
 * bytes to every local subscriber. Tells the broker when the node's interest starts and ends.
 */
export class Hub<S extends Subscriber = Subscriber> {
  readonly #channels = new Map<string, Entry<S>>();

  constructor(
    private readonly broker: Broker,
    private readonly onError: (err: unknown) => void,
  ) {}

  async add(key: string, client: S): Promise<void> {
    let entry = this.#channels.get(key);
    if (!entry) {
      const created: Entry<S> = { clients: new Set(), ready: this.broker.subscribe(key), lastEpoch: '', lastOffset: 0, lastData: '' };
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
    this.broker.unsubscribe(key).catch(this.onError);
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
    const channel = ChannelResolver.channelOf(key);
    const follows = entry.lastEpoch === epoch && entry.lastOffset === pub.offset - 1;
    const delivery = new Delivery(channel, epoch, pub, publicationPush(channel, pub, epoch), follows ? entry.lastData : null);
    entry.lastEpoch = epoch;
    entry.lastOffset = pub.offset;
    entry.lastData = pub.data;
    for (const client of entry.clients) client.deliverPublication(key, delivery);
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
