import type {
  Broker,
  BrokerHandler,
  ChannelEvent,
  HistoryPage,
  HistoryQuery,
  PublishOptions,
  PublishOutcome,
  StreamLoss,
  StreamPosition,
  StreamPublication,
} from '../broker.js';
import type { InHostConnection } from './connection.js';

/** Publications read back per channel after a reconnection; a longer gap is reported as lost. */
const CATCH_UP_LIMIT = 10_000;

type Held = { kind: 'pub'; pub: StreamPublication; epoch: string } | { kind: 'lost'; loss: StreamLoss };

/**
 * A worker's broker: publish and history are sequenced by the host; the host sends each
 * publication of a channel this worker subscribes to once, whatever the number of local
 * subscribers (the Hub fans out here). After a lost connection it reads back what it
 * missed per channel, or reports the channel's stream lost when history cannot fill it.
 */
export class InHostBroker implements Broker {
  readonly #conn: InHostConnection;
  #handler: BrokerHandler | null = null;
  /** Subscribed channels and the position last handed on (null: none yet). */
  readonly #channels = new Map<string, StreamPosition | null>();
  /** Channels being caught up after a reconnection: what arrived meanwhile, handed on after. */
  readonly #held = new Map<string, Held[]>();

  constructor(conn: InHostConnection) {
    this.#conn = conn.retain();
    conn.onPush((push, body) => {
      if (push.p === 'pub') this.#publication(push.c, { ...push.m, data: body ?? '' } as StreamPublication, push.e);
      else if (push.p === 'ev') this.#handler?.onEvent(push.c, push.v as ChannelEvent);
      else if (push.p === 'lost') this.#lost(push.c, push.l as StreamLoss);
    });
    conn.onReconnected((first) => this.#resubscribe(first));
  }

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    const isNew = !this.#channels.has(channel);
    if (isNew) this.#channels.set(channel, null);
    try {
      await this.#conn.request('subscribe', [channel]);
    } catch (err) {
      if (isNew) this.#channels.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    this.#held.delete(channel);
    await this.#conn.request('unsubscribe', [channel]);
  }

  publish(channel: string, data: string, options: PublishOptions): Promise<PublishOutcome> {
    return this.#conn.request('publish', [channel, options], data);
  }

  publishEvent(channel: string, event: ChannelEvent): Promise<void> {
    return this.#conn.request('publishEvent', [channel, event]);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const page = await this.#conn.request<HistoryPage>('history', [channel, query]);
    // Replies and publications come in the order the host sent them: a subscribed channel's
    // position read here is the one its next publication follows.
    if (this.#channels.get(channel) === null && !this.#held.has(channel)) this.#channels.set(channel, { epoch: page.epoch, offset: page.offset });
    return page;
  }

  removeHistory(channel: string): Promise<void> {
    return this.#conn.request('removeHistory', [channel]);
  }

  ready(): boolean {
    return this.#conn.ready() && this.#held.size === 0;
  }

  async close(): Promise<void> {
    this.#channels.clear();
    this.#held.clear();
    await this.#conn.release();
  }

  #publication(channel: string, pub: StreamPublication, epoch: string): void {
    const held = this.#held.get(channel);
    if (held) {
      held.push({ kind: 'pub', pub, epoch });
      return;
    }
    const at = this.#channels.get(channel);
    if (at === undefined) return;
    if (at === null) this.#channels.set(channel, { epoch, offset: pub.offset });
    else {
      at.epoch = epoch;
      at.offset = pub.offset;
    }
    this.#handler?.onPublication(channel, pub, epoch);
  }

  #lost(channel: string, loss: StreamLoss): void {
    const held = this.#held.get(channel);
    if (held) held.push({ kind: 'lost', loss });
    else if (this.#channels.has(channel)) {
      this.#channels.set(channel, null);
      this.#handler?.onStreamLost(channel, loss);
    }
  }

  /** On a new connection: subscribe the channels again, then fill what was missed meanwhile. */
  async #resubscribe(first: boolean): Promise<void> {
    if (first || this.#channels.size === 0) return;
    const channels = [...this.#channels.keys()];
    for (const channel of channels) this.#held.set(channel, []);
    try {
      for (const channel of channels) await this.#conn.restoreRequest('subscribe', [channel]);
      for (const channel of channels) await this.#catchUp(channel);
    } finally {
      // On failure the next connection starts over; nothing stays held meanwhile.
      for (const channel of channels) this.#release(channel);
    }
  }

  async #catchUp(channel: string): Promise<void> {
    const at = this.#channels.get(channel);
    if (!at) return;
    const page = await this.#conn.restoreRequest<HistoryPage>('history', [channel, { since: at, limit: CATCH_UP_LIMIT }]);
    if (!this.#channels.has(channel)) return;
    const position = { epoch: page.epoch, offset: page.offset };
    if (page.epoch !== at.epoch) return this.#loseTo(channel, 'epoch', position);
    if (page.offset < at.offset) return this.#loseTo(channel, 'regressed', position);
    const missed = page.publications;
    const complete = page.offset === at.offset || (missed[0]?.offset === at.offset + 1 && missed.at(-1)?.offset === page.offset);
    if (!complete) return this.#loseTo(channel, 'gap', position);
    for (const pub of missed) {
      at.offset = pub.offset;
      this.#handler?.onPublication(channel, pub, page.epoch);
    }
  }

  #loseTo(channel: string, loss: StreamLoss, position: StreamPosition): void {
    this.#channels.set(channel, position);
    this.#handler?.onStreamLost(channel, loss);
  }

  /** Hand on what arrived while catching up: publications after the position reached, in order. */
  #release(channel: string): void {
    const held = this.#held.get(channel);
    this.#held.delete(channel);
    if (!held) return;
    for (const item of held) {
      if (item.kind === 'lost') {
        this.#lost(channel, item.loss);
        continue;
      }
      const at = this.#channels.get(channel);
      if (at === undefined) return;
      if (at !== null && at.epoch === item.epoch && item.pub.offset <= at.offset) continue;
      this.#publication(channel, item.pub, item.epoch);
    }
  }
}
