import type { Logger } from 'pino';

/**
 * A retention sweep: run once at start, then every `interval` ms (0: only at start). One
 * run at a time; `stop()` waits for the one in progress, so storage can close after it.
 */
export class RetentionSweep {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #logger: Logger | null = null;

  constructor(
    private readonly what: string,
    private readonly run: () => Promise<Record<string, number>>,
  ) {}

  async start(logger: Logger, interval: number): Promise<void> {
    this.#logger = logger;
    await this.sweep();
    if (interval <= 0) return;
    this.#timer = setInterval(() => void this.sweep(), interval);
    this.#timer.unref();
  }

  sweep(): Promise<void> {
    if (this.#running) return this.#running;
    const log = this.#logger;
    this.#running = this.run()
      .then((deleted) => {
        if (Object.values(deleted).some((n) => n > 0)) log?.info({ deleted }, `${this.what} retention sweep`);
      })
      .catch((err) => log?.warn({ err }, `${this.what} retention sweep failed`))
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
