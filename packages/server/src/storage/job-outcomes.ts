import type { Logger } from 'pino';
import type { JobClaim, JobExecutor, JobStore } from './job-store.js';
import type { Storage } from './storage.js';

/** How long outcomes wait for others to share their transaction (ms). */
export const GROUP_COMMIT_MS = 2;

interface Waiting<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

/**
 * The outcomes of many short attempts written together: writes of the handlers (a webhook's
 * attempt rows) and completions of jobs, one transaction every few ms for every attempt that
 * finished meanwhile, instead of one or more transactions each. A write queued before a
 * completion commits with it or before it. When a group's transaction fails, each of its
 * writes and completions is tried alone, so one bad write does not sink the others.
 */
export class JobOutcomes {
  readonly #storage: Storage;
  readonly #store: () => JobStore;
  readonly #now: () => number;
  readonly #logger: Logger;
  #writes: Array<Waiting<void> & { write: (trx: JobExecutor) => Promise<void> }> = [];
  #completions: Array<Waiting<boolean> & { claim: JobClaim; result: unknown; remove: boolean }> = [];
  #timer: NodeJS.Timeout | null = null;
  /** The groups being written now. */
  readonly #writing = new Set<Promise<void>>();

  constructor(options: { storage: Storage; store: () => JobStore; now: () => number; logger: Logger }) {
    this.#storage = options.storage;
    this.#store = options.store;
    this.#now = options.now;
    this.#logger = options.logger;
  }

  /** Run `write` in the next group's transaction; resolves once it committed. */
  write(write: (trx: JobExecutor) => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#writes.push({ write, resolve, reject });
      this.#schedule();
    });
  }

  /** Record a successful attempt in the next group (its job deleted when `remove`: JobKindOptions.deletesDone); whether its claim still held. */
  complete(claim: JobClaim, result: unknown, remove = false): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#completions.push({ claim, result, remove, resolve, reject });
      this.#schedule();
    });
  }

  /** Write what is queued now, and wait for the groups being written (at stop, before storage closes). */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#start();
    await Promise.all([...this.#writing]);
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#start();
    }, GROUP_COMMIT_MS);
  }

  #start(): void {
    const writing = this.#commit();
    this.#writing.add(writing);
    void writing.finally(() => this.#writing.delete(writing));
  }

  async #commit(): Promise<void> {
    const writes = this.#writes;
    const completions = this.#completions;
    this.#writes = [];
    this.#completions = [];
    if (writes.length === 0 && completions.length === 0) return;
    const now = this.#now();
    try {
      const recorded = await this.#storage.transaction(async (trx) => {
        for (const w of writes) await w.write(trx);
        return completions.length === 0 ? new Set<string>() : this.#store().completeMany(completions, now, trx);
      });
      for (const w of writes) w.resolve();
      for (const c of completions) c.resolve(recorded.has(c.claim.id));
    } catch (err) {
      this.#logger.warn({ err, writes: writes.length, completions: completions.length }, 'a group of job outcomes failed; writing each alone');
      for (const w of writes) await this.#storage.transaction((trx) => w.write(trx)).then(w.resolve, w.reject);
      for (const c of completions) await this.#store().complete(c.claim, c.result, now, c.remove).then(c.resolve, c.reject);
    }
  }
}
