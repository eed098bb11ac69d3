import type { Logger } from 'pino';

/**
 * Runs a dependency's probe on an interval and keeps its last answer, so readiness reads it
 * at once instead of waiting on the dependency. Says once when the dependency goes and once
 * when it is back.
 */
export class HealthProbe {
  #problem: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running = false;

  constructor(
    private readonly name: string,
    private readonly probe: () => Promise<string | null>,
    private readonly every: number,
    private readonly logger: Logger,
  ) {}

  /** What is wrong with the dependency, or null while it answers. */
  get problem(): string | null {
    return this.#problem;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.run(), this.every);
    this.#timer.unref();
  }

  /** Probe once now (the interval does this by itself). */
  async run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const problem = await this.probe().catch((err: unknown) => (err as Error)?.message ?? 'probe failed');
      if (problem !== null && this.#problem === null) this.logger.warn({ dependency: this.name, problem }, `${this.name} unavailable; not ready`);
      if (problem === null && this.#problem !== null) this.logger.info({ dependency: this.name }, `${this.name} available again`);
      this.#problem = problem;
    } finally {
      this.#running = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
