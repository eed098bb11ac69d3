import { ClientCode } from './codes.js';
import { SwitchboardError } from './errors.js';
import type { FeatureHost } from './feature-module.js';
import { OfflineQueue } from './offline-queue.js';

interface Write {
  method: string;
  params: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * A feature module's writes that wait for a connection, like the client's publishes: made
 * while not connected, or cut off in flight by a lost connection, they are sent (again) in
 * order once the client is connected, and fail only when it stops (`disconnect()` or a
 * terminal close: ClientDisconnected) or the queue is full (OfflineQueueFull). Every write
 * sent through it must be safe to send twice — an idempotency key, or a state it sets.
 */
export class OfflineWrites {
  readonly #host: Pick<FeatureHost, 'call' | 'session' | 'on'>;
  readonly #queue: OfflineQueue<Write>;

  constructor(host: Pick<FeatureHost, 'call' | 'session' | 'on'>, maxSize = 100) {
    this.#host = host;
    this.#queue = new OfflineQueue(maxSize);
    host.on('connected', () => {
      for (const w of this.#queue.drain()) this.#send(w);
    });
    host.on('disconnected', (e) => {
      const error = SwitchboardError.of(ClientCode.ClientDisconnected, e.reason);
      for (const w of this.#queue.drain()) w.reject(error);
    });
  }

  call<R>(method: string, params: unknown): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const w: Write = { method, params, resolve: resolve as (v: unknown) => void, reject };
      if (this.#host.session !== null && this.#queue.size === 0) this.#send(w);
      else if (!this.#queue.push(w)) reject(SwitchboardError.of(ClientCode.OfflineQueueFull, `max ${this.#queue.maxSize}`));
    });
  }

  #send(w: Write): void {
    this.#host.call(w.method, w.params).then(w.resolve, (err: unknown) => {
      if (err instanceof SwitchboardError && err.code === ClientCode.ConnectionClosed.code) {
        if (this.#host.session !== null) this.#send(w);
        else this.#queue.requeue([w]);
      } else w.reject(err);
    });
  }
}
