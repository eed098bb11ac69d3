/** One acquire waiting in a key's line: tried again each time the key is freed, and every third of `locks.waitLease` to keep its place. */
export interface Waiter {
  client: string;
  /** Try to take the key: true when granted (the waiter is then done). `quiet`: a failed try does not end the wait. */
  attempt(quiet?: boolean): Promise<boolean>;
  /** Give up: the wait ran out, the connection closed or the service stopped. */
  abandon(reason: 'timeout' | 'closed'): void;
  timer: NodeJS.Timeout | undefined;
}

/** How a waiting acquire ended: granted, or refused with an error. */
export type AcquireOutcome<T> = { value: T } | { error: unknown };

/**
 * A waiting acquire that ends once. Its tries run one at a time, and none runs after it
 * ended: the last try when the wait runs out waits for a try still on its way (the key freed
 * at that moment), instead of running beside it. Two tries at once for one session both got
 * the grant (the lease store gives a holder its token again); the second one, finishing
 * after the client had its answer and released, granted the key again to nobody waiting and
 * took the node's record of the lock from its next holder, whose release then found nothing.
 */
export class PendingAcquire<T> implements Waiter {
  timer: NodeJS.Timeout | undefined;
  #ended = false;
  #last: Promise<unknown> = Promise.resolve();

  /**
   * @param tryOnce takes the key: the grant, or null while another holder has it
   * @param end called once, with the grant or the error that ends the wait
   */
  constructor(
    readonly client: string,
    private readonly tryOnce: () => Promise<T | null>,
    private readonly end: (outcome: AcquireOutcome<T>) => void,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * One try, after any try on its way; true when the key was granted (by this try or the one
   * before). A try that fails ends the wait with its error, unless `quiet` (the periodic try
   * that keeps the place: a store that failed once is asked again at the next one).
   */
  attempt(quiet = false): Promise<boolean> {
    const run = this.#last.then(async () => {
      if (this.#ended) return true;
      let value: T | null;
      try {
        value = await this.tryOnce();
      } catch (error) {
        if (!quiet) this.#finish({ error });
        return false;
      }
      if (value === null) return false;
      this.#finish({ value });
      return true;
    });
    this.#last = run;
    return run;
  }

  /** The wait ran out: one last try (a release whose nudge was lost still lets it in), else the refusal `refusal` builds. */
  async expire(refusal: () => Promise<unknown>): Promise<void> {
    if (await this.attempt()) return;
    if (this.#ended) return;
    const error = await refusal().catch((err: unknown) => err);
    this.#finish({ error });
  }

  abandon(reason: 'timeout' | 'closed', error?: unknown): void {
    if (reason === 'closed') this.#finish({ error });
  }

  #finish(outcome: AcquireOutcome<T>): void {
    if (this.#ended) return;
    this.#ended = true;
    this.end(outcome);
  }
}

/**
 * The acquires waiting on this node, per lease key, in arrival order. The lease store's line
 * decides who is served first across the cluster. When a key is freed (on any node: a node
 * message nudges every node) the first waiter here tries, which is the first in the store's
 * line whenever that one waits on this node; `retryAll` lets every waiter ask again, keeping
 * their places and catching a first waiter that is not first here.
 */
export class WaitQueues {
  readonly #queues = new Map<string, Waiter[]>();
  readonly #draining = new Set<string>();
  readonly #again = new Set<string>();

  add(leaseKey: string, waiter: Waiter): void {
    const queue = this.#queues.get(leaseKey);
    if (queue) queue.push(waiter);
    else this.#queues.set(leaseKey, [waiter]);
  }

  remove(leaseKey: string, waiter: Waiter): void {
    const queue = this.#queues.get(leaseKey);
    if (!queue) return;
    const i = queue.indexOf(waiter);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.#queues.delete(leaseKey);
    if (waiter.timer) clearTimeout(waiter.timer);
  }

  /**
   * The key was freed: let the first waiter try (a waiter that fails keeps its place). A
   * release told while a try is in flight makes one more pass, so no release is missed.
   */
  async freed(leaseKey: string): Promise<void> {
    if (this.#draining.has(leaseKey)) {
      this.#again.add(leaseKey);
      return;
    }
    this.#draining.add(leaseKey);
    try {
      for (let pass = 0; pass < 16; pass++) {
        this.#again.delete(leaseKey);
        const first = this.#queues.get(leaseKey)?.[0];
        if (first && (await first.attempt())) {
          this.remove(leaseKey, first);
          break;
        }
        if (!this.#again.has(leaseKey)) break;
      }
    } finally {
      this.#draining.delete(leaseKey);
      this.#again.delete(leaseKey);
    }
  }

  /** Every waiter tries once (its place in line renewed; a failed try keeps the wait); the granted ones leave the queue. */
  async retryAll(): Promise<void> {
    const tries: Promise<void>[] = [];
    for (const [leaseKey, queue] of this.#queues) {
      for (const w of [...queue]) tries.push(w.attempt(true).then((granted) => (granted ? this.remove(leaseKey, w) : undefined)));
    }
    await Promise.all(tries);
  }

  /** Abandon every wait of a connection that closed. */
  dropClient(client: string): void {
    for (const [leaseKey, queue] of [...this.#queues]) {
      for (const w of queue.filter((w) => w.client === client)) {
        this.remove(leaseKey, w);
        w.abandon('closed');
      }
    }
  }

  clear(): void {
    for (const [leaseKey, queue] of [...this.#queues]) {
      for (const w of [...queue]) {
        this.remove(leaseKey, w);
        w.abandon('closed');
      }
    }
  }
}
