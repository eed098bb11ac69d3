/** One request waiting in a key's queue. */
interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export interface KeyedBatchesOptions<T, R> {
  /** Most requests in one batch. */
  max: number;
  /** Whether `next` may join `batch` (the batch ends before the first that may not: arrival order is kept). */
  fits(batch: readonly T[], next: T): boolean;
  /**
   * Apply one batch (one transaction); an answer per request, in order: its result, or the
   * error for it alone. A throw fails the whole batch.
   */
  apply(batch: readonly T[]): Promise<Array<R | Error>>;
  /**
   * Least time between the starts of two batches of one key, in ms (read at each batch; 0 or
   * absent: the next batch starts as soon as the previous one is applied). A busy key then
   * applies at most one batch per `spacing` (what arrives meanwhile goes in it), while a key
   * after a quiet spell starts at once.
   */
  spacing?: () => number;
  /** The clock of `spacing` (ms, monotonic; default `performance.now`). */
  now?: () => number;
  /** Resolves after `ms` (default a timer); tests pass one driven by their own clock. */
  wait?: (ms: number) => Promise<void>;
}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Group commit per key (a comment, a thread): the requests of one key take turns, and those
 * that arrive while one batch of the key is applied — or in the same turn as the first —
 * are applied together in the next. An idle key adds no wait but the end of the current
 * turn; a hot key costs one transaction per batch instead of one per request.
 */
export class KeyedBatches<T, R> {
  readonly #queues = new Map<string, Array<Waiting<T, R>>>();
  readonly #now: () => number;
  readonly #wait: (ms: number) => Promise<void>;

  constructor(private readonly opts: KeyedBatchesOptions<T, R>) {
    this.#now = opts.now ?? (() => performance.now());
    this.#wait = opts.wait ?? timer;
  }

  run(key: string, item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(key);
      if (queue) {
        queue.push({ item, resolve, reject });
        return;
      }
      this.#queues.set(key, [{ item, resolve, reject }]);
      // Start after this turn's I/O: the requests of the key that arrived with this one join its batch.
      setImmediate(() => void this.#drain(key));
    });
  }

  async #drain(key: string): Promise<void> {
    // With spacing, the key's queue stays (and takes what arrives) until `spacing` after its
    // last batch started: a request after that finds no queue and starts at once.
    let started = Number.NEGATIVE_INFINITY;
    for (;;) {
      const spacing = this.opts.spacing?.() ?? 0;
      if (spacing > 0) {
        const early = started + spacing - this.#now();
        if (early > 0) await this.#wait(early);
      }
      const queue = this.#queues.get(key) as Array<Waiting<T, R>>;
      if (queue.length === 0) {
        this.#queues.delete(key);
        return;
      }
      if (spacing > 0) started = this.#now();
      const batch = this.#take(queue);
      try {
        const answers = await this.opts.apply(batch.map((w) => w.item));
        batch.forEach((w, i) => {
          const answer = answers[i] as R | Error;
          if (answer instanceof Error) w.reject(answer);
          else w.resolve(answer);
        });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  }

  #take(queue: Array<Waiting<T, R>>): Array<Waiting<T, R>> {
    const items: T[] = [];
    let n = 0;
    for (const w of queue) {
      if (n === this.opts.max || (n > 0 && !this.opts.fits(items, w.item))) break;
      items.push(w.item);
      n++;
    }
    return queue.splice(0, n);
  }
}
